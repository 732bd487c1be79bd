"""Adapter-scale sweep (WiSE-FT style): shrink the update until forgetting on a held-out suite is within bound.

A LoRA update is W + s * B A.  Scaling it by s in [0, 1] interpolates between the old version (s = 0) and the
new one (s = 1) in weight space, which often keeps most of the new skill while giving back old ones.  We evaluate
the held-out suite at each scale through the runner (so every run is stored) and keep the largest scale whose
forgetting, old accuracy minus new, is within the bound.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis.metrics import mean_outcome
from ..errors import UndriftError, option
from ..files import replace_folder
from ..hashing import sha256_files
from ..models import ModelSpec, load_model
from ..runner import Runner, RunOptions
from ..store import Store
from ..suites import load_suite


@dataclass
class SweepResult:
    old_accuracy: float
    accuracies: dict[float, float] = field(default_factory=dict)
    chosen: float = 1.0
    within_bound: bool = True
    max_forgetting: float = 0.0

    @property
    def warning(self) -> str | None:
        """What to tell the user when no scale forgot within the bound, so the least forgetful one was kept."""
        if self.within_bound:
            return None
        return f"no scale kept forgetting within {self.max_forgetting:.1%}; kept {self.chosen:g}, the least forgetful"


def scale_adapter(source: Path, target: Path, scale: float) -> Path:
    """Copy a peft adapter with its B matrices multiplied by `scale` (the update scaled by `scale`)."""
    from safetensors.torch import load_file, save_file

    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    weights = load_file(str(source / "adapter_model.safetensors"))
    scaled = {k: (v * scale if "lora_B" in k else v) for k, v in weights.items()}
    save_file(scaled, str(target / "adapter_model.safetensors"), metadata={"format": "pt"})
    return target


def sweep_scales(store: Store, name: str, base_spec: str, old_spec: str, adapter: Path, holdout: str,
                 scales: list[float], max_forgetting: float, progress: bool = True,
                 allow_outside: bool = False) -> SweepResult:
    if not scales or any(not 0 <= s <= 1 for s in scales):
        raise UndriftError(f"{option('sweep_scales')} are numbers between 0 and 1, e.g. [0.25, 0.5, 0.75, 1]")
    suite = load_suite(holdout, allow_outside=allow_outside)
    runner = Runner(store, progress=progress)
    old_run = runner.run(suite, load_model(old_spec), RunOptions(name=f"{name}@old"), holdout)
    result = SweepResult(old_accuracy=_accuracy(store, old_run.run.id), max_forgetting=max_forgetting)
    for scale in sorted(set(scales), reverse=True):
        scaled = scale_adapter(adapter, adapter.parent / f"scale-{scale:g}", scale)
        base = ModelSpec.parse(base_spec)
        spec = str(ModelSpec(base.backend, base.target, lora=str(scaled.resolve()), options=base.options))
        report = runner.run(suite, load_model(spec), RunOptions(name=f"{name}@scale={scale:g}"), holdout)
        result.accuracies[scale] = _accuracy(store, report.run.id)
    within = [s for s, acc in result.accuracies.items() if result.old_accuracy - acc <= max_forgetting]
    if within:
        result.chosen = max(within)
    else:
        result.within_bound = False
        result.chosen = max(result.accuracies, key=lambda s: (result.accuracies[s], -s))
    return result


def _accuracy(store: Store, run_id: str) -> float:
    """The run's accuracy as forgetting measures it (share right, else mean score, over its answers)."""
    accuracy = mean_outcome(store.results(run_id))
    if accuracy is None:  # a run that ended without failing holds an answer; this says so if that ever changes
        raise UndriftError(f"run {run_id} holds no answer to measure the held-out suite by")
    return accuracy


def keep_scale(adapter: Path, chosen: float) -> str:
    """Make the chosen scale the version's adapter; returns the adapter's new hash."""
    if chosen != 1.0:
        replace_folder(adapter, lambda folder: shutil.copytree(adapter.parent / f"scale-{chosen:g}", folder))
    return sha256_files(sorted(adapter.glob("adapter_model.*")))
