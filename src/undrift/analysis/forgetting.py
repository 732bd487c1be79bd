"""Forgetting across a sequence of versions: the accuracy matrix R[i][j], average accuracy, BWT and forgetting.

R[i][j] is version i's accuracy on suite j (its newest run of that suite): the share of its answers that are right,
or their mean score where the suite gives no verdicts (`metrics.mean_outcome`; an error is no answer, not a 0).
Suite j counts as learned at the version that was trained for it (`trained_on`), else at the first version that ran
it.  Then, for the last version L and every suite learned before it (Lopez-Paz & Ranzato 2017; Chaudhry et al. 2018):

    BWT = mean_j (R[L][j] - R[learned_j][j])         backward transfer: negative means old skills were lost
    F   = mean_j (max_{l < L} R[l][j] - R[L][j])       forgetting: the drop from the best earlier accuracy
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import UndriftError, option
from ..jsonable import jsonable
from ..store import Store
from .metrics import mean_outcome


@dataclass
class ForgettingReport:
    versions: list[str]
    suites: list[str]
    matrix: list[list[float | None]]
    learned_at: dict[str, int]
    average_accuracy: float | None
    bwt: float | None
    forgetting: float | None
    per_suite: dict[str, dict[str, float]] = field(default_factory=dict)
    probe: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def forgetting_report(store: Store, versions: list[str], suites: list[str] | None = None,
                      trained_on: list[str] | None = None) -> ForgettingReport:
    if len(versions) < 2:
        raise UndriftError("give at least two versions, oldest first")
    newest: dict[tuple[str, str], str] = {}
    order: list[str] = []
    for version in versions:
        found = [r for r in store.list_runs(name=version, limit=None) if r.finished]
        if not found:
            raise UndriftError(f"version {version!r} has no runs: run its suites with {option('name', repr(version), '--as')}")
        for run in found:  # newest first
            newest.setdefault((version, run.suite), run.id)
        for run in reversed(found):  # suites in the order they were first run
            if run.suite not in order:
                order.append(run.suite)
    chosen = suites or order
    missing = [s for s in chosen if s not in order]
    if missing:
        raise UndriftError(f"no version ran suite {missing[0]!r}; the suites run are {', '.join(order)}")
    if trained_on is not None and len(trained_on) != len(versions):
        raise UndriftError(f"{option('trained_on')} names one suite per version (use '-' for a version trained on none)")
    # a version's accuracy on a suite: its answers' mean outcome (share right, else mean score); errors are no answers
    matrix = [[mean_outcome(store.results(newest[(v, s)])) if (v, s) in newest else None for s in chosen]
              for v in versions]
    learned_at = {}
    for j, suite in enumerate(chosen):
        if trained_on and suite in trained_on:
            learned_at[suite] = trained_on.index(suite)
        else:
            learned_at[suite] = next(i for i, row in enumerate(matrix) if row[j] is not None)
    last = len(versions) - 1
    earlier = [j for j, s in enumerate(chosen) if learned_at[s] < last and matrix[last][j] is not None]
    per_suite = {}
    for j in earlier:
        suite = chosen[j]
        before = [matrix[i][j] for i in range(last) if matrix[i][j] is not None]
        per_suite[suite] = {"backward_transfer": matrix[last][j] - matrix[learned_at[suite]][j],
                            "forgetting": max(before) - matrix[last][j]}
    final = [value for value in matrix[last] if value is not None]
    return ForgettingReport(
        versions=list(versions), suites=list(chosen), matrix=matrix, learned_at=learned_at,
        average_accuracy=sum(final) / len(final) if final else None,
        bwt=sum(p["backward_transfer"] for p in per_suite.values()) / len(per_suite) if per_suite else None,
        forgetting=sum(p["forgetting"] for p in per_suite.values()) / len(per_suite) if per_suite else None,
        per_suite=per_suite,
    )
