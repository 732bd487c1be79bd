"""Where undrift keeps files it derives (converted models, weight hashes), so they are computed once."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`UNDRIFT_CACHE`, else `$XDG_CACHE_HOME/undrift`, else `~/.cache/undrift`."""
    explicit = os.environ.get("UNDRIFT_CACHE")
    if explicit:
        root = Path(explicit)
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "undrift"
    root.mkdir(parents=True, exist_ok=True)
    return root
