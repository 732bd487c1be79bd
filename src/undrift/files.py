"""Writing files and folders so that a reader never sees half of one: fill a `.partial` twin, then rename it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable


def write_text_atomic(target: Path, text: str) -> None:
    partial = target.with_name(target.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)


def replace_folder(target: Path, fill: Callable[[Path], None]) -> None:
    """Build a folder with `fill(partial)`, then put it where `target` was (an interrupted fill leaves target as it was)."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    fill(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
