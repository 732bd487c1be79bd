"""`undrift train`: fine-tune a new version with LoRA (replay, compatibility loss, scale sweep) and register it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

import undrift

from ..errors import UndriftError
from ..report.text import clean, literal
from .common import DB_HELP, OUTSIDE_HELP, Json, Quiet, err, out, print_json


def train(
    base: str = typer.Option(..., help="model spec to start from, e.g. bundled:smollm2"),
    data: Path = typer.Option(..., help="new training data: chat JSONL or prompt/completion JSONL"),
    name: str = typer.Option(..., "--out", help="name of the new version (registered under it)"),
    parent: Optional[str] = typer.Option(None, help="the registered version or alias the new version derives from "
                                                    "(default: the one version whose spec is --base, if any)"),
    out_dir: Optional[Path] = typer.Option(None, help="where the adapter goes (default: FILE.db-adapters/NAME beside "
                                                      "a SQLite store, else a folder for the store in the cache)"),
    replay: Optional[str] = typer.Option(None, help="earlier data to mix in: a JSONL file or a suite name/file"),
    replay_ratio: float = typer.Option(0.0, help="replay examples per new example in every epoch"),
    anchors: Optional[Path] = typer.Option(None, help="anchor prompts for --compat-loss kl (default: the replay)"),
    compat_from: Optional[str] = typer.Option(None, help="the old version to stay compatible with (a spec)"),
    compat_loss: Optional[str] = typer.Option(None, help="muscle, focal or kl"),
    compat_weight: float = typer.Option(1.0, help="weight of the focal or kl term"),
    plain_new: Optional[str] = typer.Option(None, help="muscle: the plain update to distil from (default: train it)"),
    temperature: float = typer.Option(2.0, help="distillation temperature"),
    ce_mix: float = typer.Option(0.0, help="muscle: share of cross-entropy mixed into the loss"),
    lora_r: int = typer.Option(8, help="LoRA rank"),
    lora_alpha: int = typer.Option(16, help="LoRA alpha"),
    epochs: int = typer.Option(2, help="passes over the new data"),
    lr: float = typer.Option(5e-4, help="learning rate (AdamW, warm-up then linear decay)"),
    batch_size: int = typer.Option(8, help="examples per optimisation step"),
    max_length: int = typer.Option(256, help="tokens per example, prompt included"),
    seed: int = typer.Option(0, help="fixes LoRA initialisation and data order"),
    save_every: int = typer.Option(50, help="checkpoint every N steps"),
    resume: bool = typer.Option(False, "--resume", help="continue from the last checkpoint in the output folder"),
    sweep_scales: Optional[str] = typer.Option(None, help="adapter scales to try, e.g. 0.25,0.5,0.75,1 (WiSE-FT)"),
    holdout: Optional[str] = typer.Option(None, help="suite on which the sweep measures forgetting"),
    max_forgetting: float = typer.Option(0.02, help="the sweep keeps the largest scale that forgets at most this"),
    db: Optional[str] = typer.Option(None, help=DB_HELP + "; the new version is registered there"),
    as_json: Json = False,
    quiet: Quiet = False,
    allow_outside: bool = typer.Option(False, "--allow-outside", help=OUTSIDE_HELP + " (--replay, --holdout)"),
) -> None:
    """Fine-tune a new version with LoRA, optionally with replay and a compatibility loss, and register it."""
    from ..train.trainer import TrainingInterrupted

    scales = _floats(sweep_scales, "--sweep-scales") if sweep_scales else None
    try:
        trained = undrift.train(
            base, data, name, parent=parent, out_dir=out_dir, replay=replay, replay_ratio=replay_ratio,
            anchors=anchors, compat_from=compat_from, compat_loss=compat_loss, compat_weight=compat_weight,
            plain_new=plain_new, temperature=temperature, ce_mix=ce_mix, lora_r=lora_r, lora_alpha=lora_alpha,
            epochs=epochs, lr=lr, batch_size=batch_size, max_length=max_length, seed=seed, save_every=save_every,
            resume=resume, sweep_scales=scales, holdout=holdout, max_forgetting=max_forgetting, db=db,
            progress=not quiet, allow_outside=allow_outside)
    except TrainingInterrupted as stop:
        err.print(literal(str(stop)))
        raise typer.Exit(130)
    if trained.sweep is not None and trained.sweep.warning:
        err.print(Text(trained.sweep.warning, style="yellow"))
    if as_json:
        print_json(trained.to_dict())
        return
    out.print(Text("trained ").append(clean(trained.version.name), style="bold").append(clean(
        f" in {trained.steps} steps (final loss {trained.final_loss:.4f}); spec {trained.version.spec}")))


def _floats(text: str, option: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UndriftError(f"{option} takes comma-separated numbers, e.g. 0.25,0.5,1 (got {text!r})") from None
