"""Train a new version with LoRA: the whole loop, readable in one sitting.

    examples  = new data (+ replay drawn fresh each epoch)
    model     = base weights (a base adapter merged in) + a fresh LoRA adapter
    teachers  = the old version (the same weights with the adapter disabled, when old == base) and, for MUSCLE,
                the plain new version (trained first with cross-entropy alone, unless given)
    each step = forward the batch, the loss of the chosen recipe, backward, clip, AdamW, checkpoint now and then

A fixed seed fixes the LoRA initialisation and the order of the data, so the same inputs give the same adapter.
Checkpoints are written to a temporary folder and renamed into place: an interrupted run leaves its last
checkpoint whole, and `resume=True` continues from it.

Adapters belong to the store the version is registered in (version names are unique per store, not across
stores): beside a SQLite store FILE.db in FILE.db-adapters/NAME, for any other store in the cache under a folder
named by the store's URL (hashed, without its password), unless `out_dir` says where.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UndriftError, option
from ..files import replace_folder
from ..hashing import sha256_files
from ..models import ModelSpec, require
from ..paths import store_folder
from ..progress import ProgressBar
from .data import (
    IGNORE,
    Example,
    data_hash,
    load_examples,
    mix_epoch,
    replay_examples,
    tokenise,
)

COMPAT_LOSSES = ("muscle", "focal", "kl")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


class TrainingInterrupted(UndriftError):
    """Raised after Ctrl-C during training, once the checkpoint is saved: `out_dir` holds it, `resume=True` (the
    CLI's `--resume`) continues from `step`."""

    exit_code = 130

    def __init__(self, out_dir: Path, step: int):
        super().__init__(f"training was interrupted at step {step}: the checkpoint in {out_dir} is kept; continue "
                         f"with the same call and {option('resume', True)}")
        self.out_dir, self.step = out_dir, step


@dataclass
class TrainConfig:
    base: str
    data: str
    name: str
    out_dir: str | None = None
    replay: str | None = None
    replay_ratio: float = 0.0
    anchors: str | None = None
    compat_from: str | None = None
    compat_loss: str | None = None
    compat_weight: float = 1.0
    plain_new: str | None = None
    temperature: float = 2.0
    ce_mix: float = 0.0
    focal_alpha: float = 1.0
    focal_beta: float = 5.0
    lora_r: int = 8
    lora_alpha: int = 16
    epochs: int = 2
    lr: float = 5e-4
    batch_size: int = 8
    max_length: int = 256
    seed: int = 0
    save_every: int = 50
    resume: bool = False
    store: str | None = None  # the store (URL, as --db takes it) the version is registered in; its adapters go there
    allow_outside: bool = False  # a replay suite file may read samples files outside its folder

    def validate(self) -> None:
        if self.compat_loss not in (None, *COMPAT_LOSSES):
            raise UndriftError(f"unknown {option('compat_loss')} {self.compat_loss!r}: choose muscle, focal or kl")
        if self.compat_loss and not self.compat_from:
            raise UndriftError(f"{option('compat_loss', repr(self.compat_loss))} needs {option('compat_from')}: the "
                               "spec of the version to stay compatible with")
        if self.compat_loss == "kl" and not (self.anchors or self.replay):
            raise UndriftError(f"{option('compat_loss', repr('kl'))} needs anchor prompts: give {option('anchors')} "
                               f"or {option('replay')}")
        if self.replay_ratio < 0 or (self.replay_ratio > 0 and not self.replay):
            raise UndriftError(f"{option('replay_ratio')} needs {option('replay')} (a suite or file) and must be 0 "
                               "or more")
        for key in ("epochs", "batch_size", "lora_r", "lora_alpha", "max_length", "save_every"):
            if getattr(self, key) < 1:
                raise UndriftError(f"--{key.replace('_', '-')} must be at least 1 (got {getattr(self, key)})")
        if not self.lr > 0 or not self.temperature > 0:
            raise UndriftError(f"{option('lr')} and {option('temperature')} must be positive")
        if not 0 <= self.ce_mix <= 1:
            raise UndriftError(f"{option('ce_mix')} must lie in [0, 1] (got {self.ce_mix})")

    def check_inputs(self) -> None:
        """Every input a user can get wrong (options, base model, data files), found before a store is opened or
        any weights load, so that a refused command leaves nothing behind."""
        self.validate()
        from ..models import load_model

        load_model(_base_spec(self.base), lazy=True)
        if self.compat_from:
            require(ModelSpec.parse(self.compat_from), "trainable", COMPAT_WHO)
        load_examples(self.data)
        if self.replay:
            replay_examples(self.replay, self.seed, self.allow_outside)
        if self.anchors:
            load_examples(self.anchors)

    def output(self) -> Path:
        return Path(self.out_dir) if self.out_dir else adapters_home(self.store) / self.name

    def recipe(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("out_dir", "resume", "store", "allow_outside")}


COMPAT_WHO = "compatibility training (its old version)"  # how refusals name what needs --compat-from's weights


def adapters_home(store: str | None) -> Path:
    """The folder that holds the adapters of the versions of `store` (None: the default store)."""
    return store_folder(store, "adapters", "versions")


@dataclass
class TrainResult:
    name: str
    spec: str
    adapter_dir: Path
    steps: int
    losses: list[float]
    recipe: dict[str, Any]
    data_hashes: dict[str, str]
    plain_new: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def train(config: TrainConfig, progress: bool = True) -> TrainResult:
    """Fine-tune `config.base` on `config.data` with the configured recipe; returns where the adapter is."""
    config.validate()
    import torch

    base_spec = _base_spec(config.base)
    out = config.output()
    final = out / "adapter"
    if final.exists() and not config.resume:
        raise UndriftError(f"{str(final)!r} already holds a trained adapter: choose another "
                           f"{option('out_dir', flag='--out')}, or {option('resume', True)}")
    examples = load_examples(config.data)
    replay = replay_examples(config.replay, config.seed, config.allow_outside) if config.replay else []
    anchors = (load_examples(config.anchors) if config.anchors else replay) if config.compat_loss == "kl" else []
    plain_new_spec = config.plain_new
    if config.compat_loss == "muscle" and not plain_new_spec:
        plain = _plain_config(config, out / "plain-new")
        finished = plain.output() / "recipe.json"  # trained before this run was interrupted: keep it
        plain_new_spec = json.loads(finished.read_text())["spec"] if finished.exists() else train(plain, progress).spec

    torch.manual_seed(config.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"  # a GPU where there is one; CPU otherwise
    model, tokenizer = _student(base_spec, config)
    model.to(device)
    old = _teacher(config.compat_from, base_spec, device) if config.compat_from else None
    plain_new = _teacher(plain_new_spec, base_spec, device) if config.compat_loss == "muscle" else None

    rng = random.Random(config.seed)
    schedule = [epoch[i : i + config.batch_size]
                for epoch in (mix_epoch(examples, replay, config.replay_ratio, rng) for _ in range(config.epochs))
                for i in range(0, len(epoch), config.batch_size)]
    anchor_batches = [[anchors[rng.randrange(len(anchors))] for _ in range(config.batch_size)]
                      for _ in schedule] if anchors else []
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr, weight_decay=0.0)
    total = len(schedule)
    warmup = max(1, total // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total - s) / max(1, total - warmup)))
    start, losses = _resume(out, model, optimizer, scheduler) if config.resume else (0, [])
    out.mkdir(parents=True, exist_ok=True)

    def collate(batch: list[Example]):
        encoded = [tokenise(tokenizer, example, config.max_length) for example in batch]
        width = max(len(ids) for ids, _ in encoded)
        pad = tokenizer.pad_token_id
        ids = torch.tensor([i + [pad] * (width - len(i)) for i, _ in encoded])
        labels = torch.tensor([lab + [IGNORE] * (width - len(lab)) for _, lab in encoded])
        attention = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in encoded])
        return ids.to(device), labels.to(device), attention.to(device)

    def logits_of(network, ids, attention, disable_adapter=False):
        if disable_adapter:
            with network.disable_adapter(), torch.no_grad():
                return network(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
        return network(input_ids=ids, attention_mask=attention).logits[:, :-1].float()

    def reference(network, ids, attention):
        if network is None:
            return None
        if network == "self":
            return logits_of(model, ids, attention, disable_adapter=True)
        with torch.no_grad():
            return logits_of(network, ids, attention)

    from . import losses as loss_fns

    model.train()
    completed = start  # steps whose update is applied: what a checkpoint taken now holds
    try:
        with ProgressBar(f"training {config.name}", total, enabled=progress) as bar:
            bar.advance(start)
            for step in range(start, total):
                ids, labels, attention = collate(schedule[step])
                targets = labels[:, 1:]
                student = logits_of(model, ids, attention)
                if config.compat_loss == "muscle":
                    loss = loss_fns.muscle(student, reference(old, ids, attention),
                                           reference(plain_new, ids, attention), targets, config.temperature,
                                           config.ce_mix)
                elif config.compat_loss == "focal":
                    loss = loss_fns.focal_distillation(student, reference(old, ids, attention), targets,
                                                       config.temperature, config.focal_alpha, config.focal_beta,
                                                       config.compat_weight)
                else:
                    loss = loss_fns.cross_entropy(student, targets)
                    if config.compat_loss == "kl":
                        a_ids, _, a_attention = collate(anchor_batches[step])
                        kl = loss_fns.anchor_kl(logits_of(model, a_ids, a_attention),
                                                reference(old, a_ids, a_attention), a_attention[:, 1:])
                        loss = loss + config.compat_weight * kl
                if not math.isfinite(loss.item()):
                    raise UndriftError(f"the loss became {loss.item()} at step {step + 1}: lower {option('lr')}")
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                losses.append(round(loss.item(), 5))
                completed = step + 1
                bar.advance()
                if (step + 1) % config.save_every == 0 and step + 1 < total:
                    _checkpoint(out, model, optimizer, scheduler, step + 1, losses)
    except KeyboardInterrupt:
        _checkpoint(out, model, optimizer, scheduler, completed, losses[:completed])
        raise TrainingInterrupted(out, completed) from None
    _save_adapter(model, final)
    spec = _version_spec(base_spec, final)
    hashes = {"data": data_hash(config.data)}
    if config.replay and Path(config.replay).is_file():
        hashes["replay"] = data_hash(config.replay)
    elif config.replay:
        from ..suites import load_suite

        hashes["replay_suite"] = load_suite(config.replay, seed=config.seed,
                                            allow_outside=config.allow_outside).digest()
    if config.anchors:
        hashes["anchors"] = data_hash(config.anchors)
    hashes["adapter"] = sha256_files(sorted(final.glob("adapter_model.*")))
    result = TrainResult(config.name, spec, final, total, losses, config.recipe(), hashes,
                         plain_new_spec if config.compat_loss == "muscle" else None)
    (out / "recipe.json").write_text(json.dumps({**asdict(result), "adapter_dir": str(final)}, indent=2, default=str))
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    return result


def _base_spec(base: str) -> ModelSpec:
    spec = ModelSpec.parse(base)
    require(spec, "trainable", "`undrift train`")
    if spec.lora:
        raise UndriftError(f"base {base} carries an adapter: merge it into a model directory and train on "
                           "hf:THAT_DIR, so the new version is one base plus one adapter")
    return spec


def _plain_config(config: TrainConfig, out: Path) -> TrainConfig:
    """The plain update MUSCLE distils from: same data, replay and settings, cross-entropy only."""
    fields = asdict(config)
    fields.update(name=f"{config.name}-plain", out_dir=str(out), compat_from=None, compat_loss=None, plain_new=None,
                  resume=False)
    return TrainConfig(**fields)


def load_weights(spec: ModelSpec, who: str = "`undrift train`"):
    """A trainable backend's float32 weights and tokenizer (`TrainableModel.trainable_weights`); `who` names what
    needs them in the one-line refusal of a backend that has none (a server, a scripted model)."""
    from ..models import load_model

    require(spec, "trainable", who)
    return load_model(spec, lazy=True).trainable_weights()


def _student(base: ModelSpec, config: TrainConfig):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = load_weights(base)
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                      target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM")
    with warnings.catch_warnings():  # peft asks transformers a deprecated question; nothing for a user to do
        warnings.simplefilter("ignore", FutureWarning)
        return get_peft_model(model, lora), tokenizer


def _teacher(spec_text: str, base: ModelSpec, device: str):
    """A frozen earlier version; "self" when it is the base itself (the student with its adapter disabled)."""
    spec = ModelSpec.parse(spec_text)
    if spec == base and not base.lora:
        return "self"
    model, _ = load_weights(spec, COMPAT_WHO)
    model.to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def _version_spec(base: ModelSpec, adapter: Path) -> str:
    """The new version as a spec: the base plus the trained adapter."""
    return str(ModelSpec(backend=base.backend, target=base.target, lora=str(adapter.resolve()), options=base.options))


def _save_adapter(model, target: Path) -> None:
    replace_folder(target, lambda folder: model.save_pretrained(str(folder)))


def _checkpoint(out: Path, model, optimizer, scheduler, step: int, losses: list[float]) -> None:
    import torch

    def fill(folder: Path) -> None:
        folder.mkdir(parents=True)
        model.save_pretrained(str(folder / "adapter"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step,
                    "losses": losses}, folder / "state.pt")

    replace_folder(out / "checkpoints" / f"step-{step:06d}", fill)


def _resume(out: Path, model, optimizer, scheduler) -> tuple[int, list[float]]:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    folders = sorted(p for p in (out / "checkpoints").glob("step-*") if not p.name.endswith(".partial"))
    if not folders:
        raise UndriftError(f"nothing to resume in {str(out)!r}: no checkpoint was written there")
    latest = folders[-1]
    set_peft_model_state_dict(model, load_file(str(latest / "adapter" / "adapter_model.safetensors")))
    state = torch.load(latest / "state.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return state["step"], list(state["losses"])
