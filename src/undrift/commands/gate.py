"""`undrift gate`: pass or fail a new version against the old one under a policy; the exit status is the verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

import undrift

from ..files import write_text_atomic
from .common import Db, Json, out, print_json, writable


def gate(
    old: str = typer.Argument(..., help="the version in service: run id, prefix, name or registry alias"),
    new: str = typer.Argument(..., help="the candidate: run id, prefix, name or registry alias"),
    policy: Path = typer.Option(..., help="policy YAML with thresholds (see docs/gate.md)"),
    junit: Optional[Path] = typer.Option(None, help="also write the checks as JUnit XML here"),
    tolerance: float = typer.Option(0.0, help="score-difference tolerance for flips without a verdict"),
    suite: Optional[str] = typer.Option(None, help="the suite to gate on, where the two sides both ran several"),
    allow_incomplete: bool = typer.Option(False, "--allow-incomplete",
                                          help="gate even on a run that did not complete or has too many errors"),
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Pass or fail a new version against the old one: exit 0 on pass, 1 on fail, with the reasons; 2 when a run is
    no evidence (unfinished, or too many errors) unless --allow-incomplete.

    A name stands for its newest run of the suite both sides ran (the newest finished one for OLD), as in
    `undrift registry promote` and `undrift.testing`; where they share several suites, --suite says which."""
    rules = undrift.Policy.load(policy)  # a bad policy is reported before the output folder and the store
    writable(junit)
    report = undrift.gate(old, new, rules, tolerance=tolerance, allow_incomplete=allow_incomplete, suite=suite, db=db)
    if junit:
        write_text_atomic(junit, report.junit_xml())
    if as_json:
        print_json(report.to_dict())
    else:
        from ..report.terminal import gate_report

        out.print(gate_report(report.result, report.comparison, policy.name))
    if not report.passed:
        raise typer.Exit(1)
