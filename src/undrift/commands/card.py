"""`undrift card`: a model card written from the evidence in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

import undrift

from ..files import write_text_atomic
from ..report.text import literal
from .common import Db, err, writable


def card(
    name: str = typer.Argument(..., help="version or alias"),
    output: Optional[Path] = typer.Option(None, "--out", help="write the card here (default: print it)"),
    db: Db = None,
) -> None:
    """Write a model card (Markdown) from the evidence: recipe, data, evaluations, flips, forgetting."""
    writable(output)
    text = undrift.model_card(name, db=db)
    if output:
        write_text_atomic(output, text)
        err.print(literal(f"wrote {output}"))
    else:
        print(text, end="")
