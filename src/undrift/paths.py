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


def store_folder(store: str | None, suffix: str, shared: str) -> Path:
    """A folder for files that belong to a store (None: the default store): beside a SQLite `FILE.db` as
    `FILE.db-SUFFIX`; for any other store in the cache, under `SHARED/<hash of its URL>` (the password masked, so
    changing it keeps the folder)."""
    import hashlib

    from sqlalchemy.engine import make_url

    from .store import resolve_url

    url = make_url(resolve_url(store))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(f"{url.database}-{suffix}")
    key = url.render_as_string(hide_password=True)
    return cache_dir() / shared / hashlib.sha256(key.encode()).hexdigest()[:12]
