"""`undrift forgetting`: the accuracy matrix of a sequence of versions, BWT, forgetting and the optional probe."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

import undrift

from .common import Db, Json, out, print_json


def forgetting(
    versions: list[str] = typer.Argument(..., help="versions, oldest first"),
    suites: Optional[str] = typer.Option(None, help="comma-separated suites (default: every suite they ran)"),
    trained_on: Optional[str] = typer.Option(None, help="the suite each version was trained for, one per version "
                                                        "('-' for none), e.g. -,codeword"),
    probe: Optional[Path] = typer.Option(None, help="anchor prompts (JSONL) for perplexity and KL to the previous version"),
    db: Db = None,
    as_json: Json = False,
) -> None:
    """The accuracy matrix of a sequence of versions on their suites, BWT, forgetting, and an optional cheap probe."""
    report = undrift.forgetting(versions, suites=suites, trained_on=trained_on, probe=probe, db=db)
    if as_json:
        print_json(report.to_dict())
        return
    from ..report.forgetting import forgetting_lines, forgetting_table

    out.print(forgetting_table(report))
    for line in forgetting_lines(report):
        out.print(line)
