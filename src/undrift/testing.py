"""Assertions for a team's own CI: a candidate model must not regress, written as a policy in a pytest test.

    from undrift.testing import assert_no_regression

    def test_candidate_is_compatible():
        assert_no_regression("support-v2", against="production", max_nfr=0.02)

Each assertion is the gate (`undrift gate`, `undrift registry promote`): the same comparison, the same rules, the
same refusal of a run that is no evidence (incomplete, or with more errors than it allowed).  A failure raises
`AssertionError` with a message that names the suite, the task, the metric with its interval, and the samples that
flipped from right to wrong, so the CI log says what regressed without opening the store.

A reference is a run id (or prefix), a run name (its latest run), a registry alias (the version it points at) or a
`RunRecord`; anything else (None, an empty name, a wrong type) fails the assertion, never stands for every run.
The runs are chosen as `undrift.gate` chooses them (`undrift.gate.gate_pairs`, one rule): where a side is a name, its
newest run of each suite both sides ran, as promotion does; a candidate's newest run counts even when it failed, so a
broken run fails the test rather than being skipped.  Where the two share several suites the assertions gate every
one (`suite=` picks one), as promotion does; `undrift.gate`, whose answer is one comparison, asks for `suite=`.

The store is `db=`, else what `pytest --undrift-db URL` (or the `undrift_db` ini key) named, else $UNDRIFT_DB,
else ./undrift.db.  The pytest plugin (`undrift.pytest_plugin`) adds that option and the `undrift_store` fixture.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable, Mapping, TypeVar

if TYPE_CHECKING:
    from pathlib import Path

    from .gate import GateReport, GateSide, Policy
    from .store import RunRecord, Store

__all__ = ["assert_gate", "assert_nfr_at_most", "assert_no_regression", "assert_no_significant_drop"]

DEFAULT_DB: str | None = None  # set by the pytest plugin from --undrift-db / the undrift_db ini key
SHOWN_FLIPS = 10  # flipped samples named per task in a failure message

F = TypeVar("F", bound=Callable[..., Any])


def _checked(function: F) -> F:
    """Arguments checked as `undrift.gate` checks them (`api.arguments.checked`, read from the annotations), a wrong
    one failing the assertion in one line like every other refusal here."""
    from .api.arguments import checked
    from .errors import UndriftError

    call = checked(function, label=f"undrift.testing.{function.__name__}()")

    @functools.wraps(function)
    def asserting(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        try:
            return call(*args, **kwargs)
        except UndriftError as error:  # the body turns its own refusals into AssertionError: this is the check's
            raise AssertionError(f"undrift: {error}") from None

    return asserting  # type: ignore[return-value]


@_checked
def assert_no_regression(candidate: str | RunRecord, *, against: str | RunRecord, max_nfr: float = 0.02,
                         metric: str = "accuracy", suite: str | None = None,
                         db: Store | str | Path | None = None) -> list[GateReport]:
    """No significant drop in `metric` on any task (paired test, BH-adjusted across tasks) and a negative flip rate
    of at most `max_nfr` on every task: the policy `undrift registry promote` applies by default."""
    __tracebackhide__ = True
    policy = {"rules": [{"metric": "nfr", "max": max_nfr}, {"metric": metric, "no_significant_drop": True}]}
    return assert_gate(against, candidate, policy, suite=suite, db=db)


@_checked
def assert_no_significant_drop(old: str | RunRecord, new: str | RunRecord, *, metric: str = "accuracy",
                               suite: str | None = None, db: Store | str | Path | None = None) -> list[GateReport]:
    """No task of `new` has a significantly worse `metric` than `old` (paired test, BH-adjusted across tasks)."""
    __tracebackhide__ = True
    return assert_gate(old, new, {"rules": [{"metric": metric, "no_significant_drop": True}]}, suite=suite, db=db)


@_checked
def assert_nfr_at_most(old: str | RunRecord, new: str | RunRecord, limit: float, *, suite: str | None = None,
                       db: Store | str | Path | None = None) -> list[GateReport]:
    """On every task, at most `limit` of the samples `old` got right are wrong in `new` (negative flip rate)."""
    __tracebackhide__ = True
    return assert_gate(old, new, {"rules": [{"metric": "nfr", "max": limit}]}, suite=suite, db=db)


@_checked
def assert_gate(old: str | RunRecord, new: str | RunRecord, policy: Policy | Mapping[str, Any] | str | Path, *,
                tolerance: float = 0.0, suite: str | None = None,
                db: Store | str | Path | None = None) -> list[GateReport]:
    """`new` passes `policy` against `old` on every suite both ran, or on `suite` (a policy as `undrift.gate` takes
    it; the runs as `undrift.gate` chooses them).  Returns the gate's reports, one per suite, for further checks;
    raises `AssertionError` with the reasons otherwise."""
    __tracebackhide__ = True
    from .api.analysis import as_policy
    from .errors import UndriftError
    from .store import as_store

    try:
        rules = as_policy(policy)
        store = as_store(db if db is not None else DEFAULT_DB, must_exist=True)
        try:
            reports, problem = _gate(store, old, new, rules, tolerance, suite)
        finally:
            if store is not db:
                store.close()
    except UndriftError as error:
        raise AssertionError(f"undrift: {error}") from None
    if problem:
        raise AssertionError(problem)
    return reports


def _gate(store: Store, old: str, new: str, policy: Policy, tolerance: float,
          suite: str | None) -> tuple[list[GateReport], str | None]:
    from .errors import UndriftError
    from .gate import gate_pair, gate_pairs, refuse_unfit

    baseline, candidate, pairs = gate_pairs(store, old, new, suite)
    reports, failed = [], []
    for before, after in pairs:
        try:
            refuse_unfit(before, after, overridable=False)  # no allow_incomplete here: an outage fails the test
            report = gate_pair(store, before, after, policy, tolerance=tolerance)
        except UndriftError as refused:  # a run that is no evidence: the test fails, it does not pass
            return reports, f"undrift: {candidate.label} against {baseline.label}, suite {after.suite!r}: {refused}"
        reports.append(report)
        if not report.passed:
            failed.append(report)
    if failed:
        return reports, _message(baseline, candidate, failed)
    return reports, None


def _message(baseline: GateSide, candidate: GateSide, failed: list[GateReport]) -> str:
    """What failed, where, by how much, and which samples flipped from right to wrong."""
    lines = [f"undrift: {candidate.label} regresses against {baseline.label}"]
    for report in failed:
        c = report.comparison
        lines.append(f"  suite {c.new.suite!r}: run {c.old.id} ({c.old.name}) -> run {c.new.id} ({c.new.name}), "
                     f"{c.shared} shared samples")
        groups = {g.task + (f"/{g.slice}" if g.slice else ""): g for g in c.tasks + c.slices}
        tasks = []
        for check in report.failures:
            lines.append(f"    FAILED {check.rule}: {check.reason}{_nfr_detail(check, groups.get(check.task))}")
            if check.task not in tasks:
                tasks.append(check.task)
        for task in tasks:
            flips = [f for f in c.flips if f.kind == "negative" and f.task == task.split("/")[0]]
            if flips:
                shown = ", ".join(f"{f.sample_id} ({_short(f.old_extracted)} -> {_short(f.new_extracted)})"
                                  for f in flips[:SHOWN_FLIPS])
                more = f" and {len(flips) - SHOWN_FLIPS} more" if len(flips) > SHOWN_FLIPS else ""
                lines.append(f"    {task}: {len(flips)} right before, wrong now: {shown}{more}")
        lines += [f"    note: {note}" for note in report.result.notes]
    return "\n".join(lines)


def _nfr_detail(check, group) -> str:
    """The interval and counts the gate's one-line NFR reason leaves out."""
    compatibility = group.compatibility if group is not None else None
    if not check.rule.startswith("nfr") or compatibility is None:
        return ""
    low, high = compatibility.nfr_ci
    return (f", 95% CI {low:.1%} to {high:.1%}; {compatibility.negative_flips} of {compatibility.n} samples "
            f"flipped from right to wrong")


def _short(extracted: str | None) -> str:
    """A model's answer as a message may show it: quoted and escaped (it is untrusted), and short."""
    if extracted is None:
        return "no answer"
    text = repr(str(extracted))
    return text if len(text) <= 40 else text[:37] + "..."
