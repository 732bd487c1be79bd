"""`undrift compare`: two runs sample by sample, in the terminal and optionally as Markdown and HTML reports."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

import undrift

from ..files import write_text_atomic
from ..report.text import literal
from .common import Db, Json, err, out, print_json, writable


def compare(
    old: str = typer.Argument(..., help="old run: id, id prefix, model name (its latest run) or "
                                        "registry alias"),
    new: str = typer.Argument(..., help="new run: id, id prefix, model name (its latest run) or "
                                        "registry alias"),
    tasks: Optional[str] = typer.Option(None, help="comma-separated task names (default: all shared)"),
    tolerance: float = typer.Option(0.0, help="score difference D(x) beyond which a sample without a right/wrong "
                                              "verdict counts as flipped (0: the strict definition)"),
    flips: int = typer.Option(5, min=0, help="show this many flipped samples side by side"),
    md: Optional[Path] = typer.Option(None, "--md", help="also write a Markdown report here"),
    html: Optional[Path] = typer.Option(None, "--html", help="also write a self-contained HTML report here"),
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Compare two runs sample by sample: changes with intervals and paired tests, flips, compatibility."""
    for target in (md, html):
        writable(target)
    comparison = undrift.compare(old, new, tasks=tasks, tolerance=tolerance, db=db)
    if md:
        from ..report.markdown import comparison_markdown

        write_text_atomic(md, comparison_markdown(comparison))
    if html:
        from ..report.html import comparison_html

        write_text_atomic(html, comparison_html(comparison))
    if as_json:
        print_json(comparison.to_dict())
        return
    from ..report.terminal import (
        changed_table,
        comparison_header,
        comparison_table,
        flips_table,
        significant_changes_table,
        untested_notes,
    )

    out.print(comparison_header(comparison))
    for table in (comparison_table(comparison), significant_changes_table(comparison), flips_table(comparison, flips),
                  changed_table(comparison, flips)):
        if table is not None:
            out.print(table)
    for note in untested_notes(comparison):
        out.print(note)
    for target in (md, html):
        if target:
            err.print(literal(f"wrote {target}"))
