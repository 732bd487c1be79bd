"""Content hashes for fingerprints, memoised by (path, size, mtime) so a 500 MB weight file is read once."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .paths import cache_dir

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """SHA-256 of one file; the result is memoised on disk against the file's size and modification time."""
    path = Path(path).resolve()
    stat = path.stat()
    memo_key = hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:32]
    memo = cache_dir() / "hashes" / f"{memo_key}.txt"
    if memo.exists():
        return memo.read_text().strip()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_text(digest.hexdigest())
    return digest.hexdigest()


def sha256_files(paths: list[Path]) -> str:
    """One hash over several files (names and contents), independent of the order they are given in."""
    combined = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        combined.update(path.name.encode())
        combined.update(sha256_file(path).encode())
    return combined.hexdigest()


def sha256_json(value: object) -> str:
    """Hash of a JSON-serialisable value in canonical form (sorted keys, no whitespace)."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
