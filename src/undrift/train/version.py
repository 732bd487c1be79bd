"""A new version end to end: check every input, train, optionally sweep the adapter's scale against forgetting on a
held-out suite (WiSE-FT), and register the version with its recipe and data hashes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UndriftError, option
from ..jsonable import jsonable
from ..registry import Registry, Version
from ..store import Store, as_store
from .sweep import SweepResult
from .trainer import TrainConfig


@dataclass
class TrainedVersion:
    """The registered version, how its training went and, with a sweep, what each scale forgot."""

    version: Version
    steps: int
    losses: list[float]
    adapter_dir: Path
    sweep: SweepResult | None = None

    @property
    def final_loss(self) -> float:
        return self.losses[-1]

    def to_dict(self) -> dict[str, Any]:
        """What `undrift train --json` prints."""
        return jsonable({"version": self.version.to_dict(), "steps": self.steps, "final_loss": self.final_loss,
                         "adapter_dir": str(self.adapter_dir)})


def train_version(config: TrainConfig, db: Store | str | None = None, parent: str | None = None,
                  sweep_scales: list[float] | None = None, holdout: str | None = None,
                  max_forgetting: float = 0.02, progress: bool = True) -> TrainedVersion:
    """Everything is checked before a store row is written or weights load: a refused version leaves nothing.
    Ctrl-C during training raises `TrainingInterrupted` with the checkpoint to resume from."""
    from ..suites import load_suite
    from .sweep import keep_scale
    from .sweep import sweep_scales as run_sweep
    from .trainer import train

    config.check_inputs()
    if sweep_scales and not holdout:
        raise UndriftError(f"{option('sweep_scales')} needs {option('holdout')}: the suite on which forgetting is "
                           "measured")
    if holdout:
        load_suite(holdout, allow_outside=config.allow_outside)
    store = as_store(db)
    registry = Registry(store)
    registry.check_free(config.name)
    parent_version = registry.parent_for(config.base, parent)
    result = train(config, progress=progress)
    sweep = None
    if sweep_scales:
        sweep = run_sweep(store, config.name, config.base, config.compat_from or config.base, result.adapter_dir,
                          holdout, sweep_scales, max_forgetting, progress=progress,
                          allow_outside=config.allow_outside)
        result.data_hashes["adapter"] = keep_scale(result.adapter_dir, sweep.chosen)
        result.recipe.update(adapter_scale=sweep.chosen, sweep={str(k): v for k, v in sweep.accuracies.items()},
                             sweep_old_accuracy=sweep.old_accuracy, holdout=holdout, max_forgetting=max_forgetting)
    version = registry.register(config.name, result.spec, kind="trained", parent=parent_version, recipe=result.recipe,
                                data_hashes=result.data_hashes)
    return TrainedVersion(version, result.steps, result.losses, result.adapter_dir, sweep)
