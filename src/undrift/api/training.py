"""Training a new version: LoRA on new data, replay against forgetting, a compatibility loss against negative
flips, an optional WiSE-FT sweep of the adapter's scale on a held-out suite, and registration with the recipe."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..store import Store
from .arguments import checked

if TYPE_CHECKING:
    from ..train.version import TrainedVersion


@checked
def train(base: str, data: str | Path, name: str, *, parent: str | None = None, out_dir: str | Path | None = None,
          replay: str | None = None, replay_ratio: float = 0.0, anchors: str | Path | None = None,
          compat_from: str | None = None, compat_loss: str | None = None, compat_weight: float = 1.0,
          plain_new: str | None = None, temperature: float = 2.0, ce_mix: float = 0.0, lora_r: int = 8,
          lora_alpha: int = 16, epochs: int = 2, lr: float = 5e-4, batch_size: int = 8, max_length: int = 256,
          seed: int = 0, save_every: int = 50, resume: bool = False, sweep_scales: Sequence[float] | None = None,
          holdout: str | None = None, max_forgetting: float = 0.02, db: Store | str | Path | None = None,
          progress: bool = False, allow_outside: bool = False) -> TrainedVersion:
    """Fine-tune `base` (a local model spec) on `data` (chat or prompt/completion JSONL) and register the result as
    version `name` in the store's registry, with `parent` (default: the one version whose spec is `base`).

    `replay` mixes earlier data in (`replay_ratio` examples per new one); `compat_loss` (muscle, focal or kl) keeps
    the update compatible with `compat_from`.  With `sweep_scales` (e.g. [0.25, 0.5, 1]) and a `holdout` suite the
    adapter is kept at the largest scale that forgets at most `max_forgetting` there.  Every input is checked before
    anything is written; Ctrl-C raises `TrainingInterrupted`, and `resume=True` continues from its checkpoint.
    """
    from ..train import TrainConfig
    from ..train.version import train_version

    config = TrainConfig(
        base=base, data=str(data), name=name, out_dir=str(out_dir) if out_dir else None, replay=replay,
        replay_ratio=replay_ratio, anchors=str(anchors) if anchors else None, compat_from=compat_from,
        compat_loss=compat_loss, compat_weight=compat_weight, plain_new=plain_new, temperature=temperature,
        ce_mix=ce_mix, lora_r=lora_r, lora_alpha=lora_alpha, epochs=epochs, lr=lr, batch_size=batch_size,
        max_length=max_length, seed=seed, save_every=save_every, resume=resume,
        store=db.url if isinstance(db, Store) else None if db is None else str(db), allow_outside=allow_outside)
    return train_version(config, db, parent=parent, sweep_scales=list(sweep_scales) if sweep_scales else None,
                         holdout=holdout, max_forgetting=max_forgetting, progress=progress)
