"""`undrift history`: a model name's runs over time, with change points; the exit status is the decision."""

from __future__ import annotations

from typing import Optional

import typer

import undrift

from ..report.text import literal
from .common import DECISION_EXIT, Db, Json, out, print_json


def history(
    name: str = typer.Argument(..., help="model name whose runs to follow"),
    metric: Optional[str] = typer.Option(None, help="metric to follow (default: each task's headline metric)"),
    task: Optional[str] = typer.Option(None, help="only this task"),
    slice_: Optional[str] = typer.Option(None, "--slice", help="only the samples tagged with this slice"),
    window: int = typer.Option(1, help="the baseline of a regime is the mean of its first WINDOW runs"),
    alpha: float = typer.Option(0.05, help="chance that a series without change shows any change point, at most"),
    db: Db = None,
    as_json: Json = False,
) -> None:
    """A model name's runs over time: the metric per task, change points, fingerprint changes.

    Exit status: 0 unchanged (every run tested, no change point), 1 changed (a change point), 3 undecided (a run
    could not be tested: a single run, or none shared samples with its baseline).
    """
    series = undrift.history(name, metric=metric, task=task, window=window, alpha=alpha, slice=slice_, db=db)
    if as_json:
        print_json(series.to_dict())
    else:
        from ..report.terminal import fingerprint_notes, history_summary, history_table

        for task_history in series.tasks:
            out.print(history_table(task_history))
            for note in fingerprint_notes(task_history):
                out.print(note)
            if task_history.note:
                out.print(literal(f"  note: {task_history.note}", style="yellow"))
            out.print()
        out.print(history_summary(series))
    raise typer.Exit(DECISION_EXIT[series.decision])
