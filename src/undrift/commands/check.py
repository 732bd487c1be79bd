"""`undrift check`: has a model drifted from an earlier run?  Stops as soon as an anytime-valid test decides."""

from __future__ import annotations

from typing import Optional

import typer

import undrift

from .common import DECISION_EXIT, AllowOutside, AllowUnsandboxed, Db, Json, Quiet, interruptible, out, print_json


def check(
    reference: str = typer.Argument(..., metavar="OLD", help="earlier run to check against: id, prefix or name"),
    model: str = typer.Option(..., "--model", "-m", help="model spec to check now"),
    direction: str = typer.Option("drop", help="drop: did accuracy fall; any: did it move either way"),
    tolerance: float = typer.Option(0.02, help="a drop (or change) within this counts as unchanged"),
    churn: Optional[float] = typer.Option(None, help="the model's own churn: the share of samples whose outcome "
                                                     "changes between two asks of the same model (default: measured "
                                                     "from the earlier run's --repeats, else the tolerance)"),
    max_calls: Optional[int] = typer.Option(None, help="stop after this many samples even if undecided"),
    alpha: float = typer.Option(0.05, help="error rate: each decision is wrong with probability at most alpha"),
    seed: int = typer.Option(0, help="seed of the random order in which samples are drawn"),
    chunk: int = typer.Option(16, help="samples per batch between looks at the evidence"),
    name: Optional[str] = typer.Option(None, "--as", help="name to file the check's run under (default: the spec)"),
    db: Db = None,
    as_json: Json = False,
    allow_unsandboxed: AllowUnsandboxed = False,
    quiet: Quiet = False,
    allow_outside: AllowOutside = False,
) -> None:
    """Has a model drifted from an earlier run? Stops as soon as an anytime-valid test decides.

    Exit status: 0 unchanged (no drop beyond the tolerance), 1 changed (accuracy dropped, or moved with
    --direction any), 3 undecided (the samples or --max-calls ran out first), 4 failed (more than 5% of the
    requests got errors: an outage is not a change).
    """
    report = interruptible(lambda: undrift.check(reference, model, direction=direction, tolerance=tolerance,
                                                 churn=churn, max_calls=max_calls, alpha=alpha, seed=seed,
                                                 chunk=chunk, name=name, db=db, progress=not quiet,
                                                 allow_unsandboxed=allow_unsandboxed, allow_outside=allow_outside))
    if as_json:
        print_json(report.to_dict())
    else:
        from ..report.terminal import check_report

        out.print(check_report(report))
    raise typer.Exit(DECISION_EXIT[report.decision])
