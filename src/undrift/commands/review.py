"""`undrift review export|import|export-labels`: responses out for labelling, labels back in as training data (from
a reviewed file, or from the labels the dashboard's review queue stored)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

import undrift

from ..report.text import literal
from .common import Db, out, writable

review_app = typer.Typer(no_args_is_help=True, help="Export responses for labelling; import labels as training data.")


@review_app.command("export")
def review_export(
    runs_: list[str] = typer.Argument(..., metavar="RUN...", help="runs to export (ids, prefixes or names)"),
    output: Path = typer.Option(..., "--out", help="a .jsonl or .csv file"),
    only: str = typer.Option("all", help="all, wrong, flips (negative and positive; with --against), or "
                                         "negative-flips (was right, now wrong)"),
    against: Optional[str] = typer.Option(None, help="the earlier run the flips are counted from (fills the flip "
                                                     "column)"),
    db: Db = None,
) -> None:
    """Write responses with empty label and correction columns for reviewers."""
    count = undrift.export_for_review(runs_, output, only=only, against=against, db=db)
    out.print(literal(f"wrote {count} responses to {output}: fill in `label` (good/bad) or `correction`, then "
                      f"`undrift review import {output.name} --out train.jsonl`"))


@review_app.command("import")
def review_import(
    reviewed: Path = typer.Argument(..., help="the reviewed .jsonl or .csv"),
    output: Path = typer.Option(..., "--out", help="chat JSONL training data to write"),
) -> None:
    """Turn reviewed responses into training data for the next version."""
    writable(output)
    counts = undrift.import_reviews(reviewed, output)
    out.print(literal(f"wrote {counts.written} examples to {output} ({counts.corrected} corrected, {counts.accepted} "
                      f"accepted; skipped {counts.rejected_without_correction} rejected without a correction and "
                      f"{counts.unlabelled} unlabelled)"))


@review_app.command("export-labels")
def review_export_labels(
    runs_: Optional[list[str]] = typer.Argument(None, metavar="[RUN...]", help="runs whose labels to export "
                                                                              "(default: every run)"),
    output: Path = typer.Option(..., "--out", help="chat JSONL training data to write"),
    db: Db = None,
) -> None:
    """Write the labels stored in the dashboard's review queue as training data (as `review import` does)."""
    writable(output)
    counts = undrift.export_labels(runs_ or None, output, db=db).counts
    out.print(literal(f"wrote {counts.written} examples to {output} ({counts.corrected} corrected, {counts.accepted} "
                      f"accepted; skipped {counts.rejected_without_correction} rejected without a correction)"))
