"""`undrift run`, `undrift runs` and `undrift show`: make a run, list runs, read one."""

from __future__ import annotations

from typing import Optional

import typer

import undrift

from ..errors import UndriftError
from .common import AllowOutside, AllowUnsandboxed, Db, Json, Quiet, interruptible, out, print_json


def run(
    suite: Optional[str] = typer.Argument(None, help="built-in suite name or suite .yaml file"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="model spec, e.g. bundled:smollm2"),
    name: Optional[str] = typer.Option(None, "--as", help="name to file the run under (default: the spec)"),
    tasks: Optional[str] = typer.Option(None, help="comma-separated task names"),
    limit: Optional[int] = typer.Option(None, help="first N samples of each task"),
    repeats: int = typer.Option(1, help="ask every sample K times (measures nondeterminism)"),
    seed: int = typer.Option(0, help="seed for generated suites and sampled decoding"),
    db: Db = None,
    as_json: Json = False,
    resume: Optional[str] = typer.Option(None, help="continue an interrupted run (by id)"),
    cache: Optional[bool] = typer.Option(None, "--cache/--no-cache",
                                         help="reuse stored responses (default: only for deterministic local models)"),
    allow_unsandboxed: AllowUnsandboxed = False,
    quiet: Quiet = False,
    max_error_rate: float = typer.Option(0.05, help="share of requests that may get errors (left out of every "
                                                    "metric); above it the run ends failed, exit 4"),
    allow_outside: AllowOutside = False,
) -> None:
    """Run a suite against a model and store every response and score.

    Exit status: 0 done, 2 bad input, 4 failed (too many requests got errors: an outage, not a regression; resume it
    once the model answers), 130 interrupted (Ctrl-C or SIGTERM; resume it).
    """
    if resume:
        report = interruptible(lambda: undrift.resume(resume, db=db, progress=not quiet,
                                                      allow_unsandboxed=allow_unsandboxed,
                                                      allow_outside=allow_outside))
    else:
        if not suite or not model:
            raise UndriftError("give a suite and --model SPEC, e.g. `undrift run drift --model bundled:smollm2`")
        report = interruptible(lambda: undrift.run(suite, model, name=name, tasks=tasks, limit=limit,
                                                   repeats=repeats, seed=seed, cache=cache,
                                                   max_error_rate=max_error_rate, db=db, progress=not quiet,
                                                   allow_unsandboxed=allow_unsandboxed, allow_outside=allow_outside))
    if as_json:
        print_json(report.to_dict())
        return
    from ..report.terminal import run_header, task_table

    out.print(run_header(report.run))
    out.print(task_table(report.tasks))
    out.print(f"{report.generated} generated, {report.from_cache} from cache, {report.elapsed_s:.1f}s")


def runs(
    name: Optional[str] = typer.Option(None, help="only runs filed under this name"),
    limit: int = typer.Option(50, help="at most this many, newest first (0: all)"),
    db: Db = None,
    as_json: Json = False,
) -> None:
    """List stored runs, newest first."""
    from ..report.terminal import runs_table

    records = undrift.runs(name=name, limit=limit, db=db)
    if as_json:
        print_json([r.to_dict() for r in records])
    elif not records:
        out.print("no runs yet: `undrift run drift --model bundled:smollm2` makes one")
    else:
        out.print(runs_table(records))


def show(
    run_ref: str = typer.Argument(..., metavar="RUN", help="run id, id prefix, or name (its latest run)"),
    task: Optional[str] = typer.Option(None, help="only this task"),
    samples: int = typer.Option(0, help="also print the first N responses"),
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Show one run: its fingerprint, per-task results and, optionally, responses."""


    results = undrift.show(run_ref, task=task, samples=samples, db=db)
    if as_json:
        print_json(results.to_dict())
        return
    from ..report.samples import print_samples
    from ..report.terminal import run_header, task_table

    out.print(run_header(results.run))
    out.print(task_table(results.tasks))
    print_samples(out, results.samples or [])
