"""`undrift import`: recorded generations (the LLMDrift study's CSVs, any JSONL or CSV) as runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

import undrift

from ..errors import UndriftError
from .common import Db, Json, Quiet, out, print_json


def import_(
    files: list[Path] = typer.Argument(..., help="files of recorded generations"),
    format: str = typer.Option(..., "--format", "-f", help="llmdrift (the LLMDrift study's CSVs), jsonl or csv"),
    suite: str = typer.Option("imported", help="suite name for jsonl/csv imports (compare needs the same suite)"),
    name: Optional[str] = typer.Option(None, help="run name when the file has no model column"),
    task: str = typer.Option("imported", help="task name when the file has no task column"),
    scorer: str = typer.Option("exact", help="scorer for jsonl/csv records, e.g. exact, numeric, label, refusal"),
    scorer_param: list[str] = typer.Option([], help="scorer parameter KEY=VALUE (VALUE read as YAML); repeatable"),
    prompt_column: str = typer.Option("prompt", help="column with the prompt text or a list of chat messages"),
    response_column: str = typer.Option("response", help="column with the model's answer"),
    id_column: Optional[str] = typer.Option("id", help="column with the sample id ('' numbers the rows)"),
    target_column: Optional[str] = typer.Option(None, help="column with the right answer"),
    model_column: Optional[str] = typer.Option("model", help="column naming the model version ('' with --name)"),
    task_column: Optional[str] = typer.Option(None, help="column naming the task"),
    slice_column: Optional[str] = typer.Option(None, help="column with a slice tag"),
    time_column: Optional[str] = typer.Option(None, help="column with an ISO 8601 time (orders history)"),
    latency_column: Optional[str] = typer.Option(None, help="column with latency in seconds"),
    tokens_column: Optional[str] = typer.Option(None, help="column with output tokens"),
    system_fingerprint_column: Optional[str] = typer.Option(
        None, help="column with the provider's system_fingerprint (kept per response and in the run's fingerprint)"),
    db: Db = None,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Import recorded generations as runs, one per model version, scored with each task's scorer."""
    columns = undrift.Columns(prompt=prompt_column, response=response_column, id=id_column or None,
                              target=target_column, model=model_column or None, task=task_column, slice=slice_column,
                              time=time_column, latency=latency_column, tokens=tokens_column,
                              system_fingerprint=system_fingerprint_column)
    records = undrift.import_generations(files, format, suite=suite, name=name, task=task, scorer=scorer,
                                         scorer_params=_params(scorer_param), columns=columns, db=db,
                                         progress=not quiet)
    if as_json:
        print_json([r.to_dict() for r in records])
    else:
        from ..report.terminal import runs_table

        out.print(runs_table(records))


def _params(pairs: list[str]) -> dict:
    from ..userfiles import load_yaml

    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UndriftError(f"--scorer-param {pair!r} is not KEY=VALUE")
        params[key] = load_yaml(value, f"--scorer-param {key}")
    return params
