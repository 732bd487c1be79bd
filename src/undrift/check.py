"""`undrift check`: has a model drifted from an earlier run?  Answered with as few model calls as the evidence allows.

The earlier run's samples are drawn in a random order and put to the model through the runner, a chunk at a
time; after each chunk a sequential check (an e-process and confidence sequences, see analysis/sequential.py)
updates and the check stops as soon as it decides "changed" (accuracy dropped, or with `direction="any"` moved) or
"unchanged within tolerance".  Separately it says whether answers changed more than the model's own churn, which
it estimates from the earlier run's repeats when it has them.  Everything the model answered is stored as a run, so
`undrift compare` can look at it afterwards.

The samples are drawn without replacement from a finite suite, not independently from a population as Ville's
bound assumes; on a suite whose flips balance exactly, the check still says "changed" less often than alpha
(tests/test_sequential.py draws such suites in random orders).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .analysis.sequential import DIRECTIONS, CheckState, SequentialDriftCheck, own_churn
from .errors import UndriftError, option
from .jsonable import jsonable
from .models import Model
from .runner import Runner, RunOptions
from .store import ResultRow, RunRecord, Store
from .suites import load_suite


@dataclass
class CheckReport:
    reference: RunRecord
    run: RunRecord
    state: CheckState
    samples: int  # samples drawn and answered
    calls: int  # of those, answers the model generated (the rest came from the cache)
    suite_size: int
    tolerance: float
    alpha: float

    @property
    def decision(self) -> str:
        return self.state.decision or "undecided"

    def to_dict(self) -> dict[str, Any]:
        s = self.state
        return jsonable({
            "decision": self.decision, "reason": s.reason, "direction": s.direction, "samples": self.samples,
            "calls": self.calls, "suite_size": self.suite_size, "tolerance": self.tolerance,
            "confidence": 1 - self.alpha, "difference": s.difference, "difference_ci": list(s.difference_ci),
            "e_value": s.e_value, "flip_rate": s.flip_rate, "flip_rate_ci": list(s.flip_rate_ci),
            "churn": s.churn, "churn_source": s.churn_source, "churn_decision": s.churn_decision or "undecided",
            "decided_at": s.decided_at,
            "reference_run": self.reference.id, "run": self.run.id,
        })


def bounded_outcome(row: ResultRow) -> float:
    """An answer's outcome (`ResultRow.outcome`, as compare counts it) held to [0, 1]: the sequential test's bounds
    hold only for outcomes in [0, 1], and a recorded score may lie outside."""
    return min(1.0, max(0.0, row.outcome))


def check_drift(store: Store, reference: str, model: Model, tolerance: float = 0.02, max_calls: int | None = None,
                alpha: float = 0.05, seed: int = 0, chunk: int = 16, name: str | None = None,
                progress: bool = True, direction: str = "drop", churn: float | None = None,
                allow_unsandboxed: bool = False, allow_outside: bool = False) -> CheckReport:
    if direction not in DIRECTIONS:
        raise UndriftError(f"{option('direction')} must be {' or '.join(DIRECTIONS)} (got {direction!r})")
    if churn is not None and not 0 <= churn < 1:
        raise UndriftError(f"{option('churn')} must lie in [0, 1) (got {churn})")
    if not 0 < tolerance < 1:
        raise UndriftError(f"{option('tolerance')} must lie between 0 and 1 (got {tolerance})")
    if max_calls is not None and max_calls < 1:
        raise UndriftError(f"{option('max_calls')} must be at least 1 (got {max_calls})")
    if not 0 < alpha < 1:
        raise UndriftError(f"{option('alpha')} must lie between 0 and 1 (got {alpha})")
    if chunk < 1:
        raise UndriftError(f"{option('chunk')} must be at least 1 (got {chunk})")
    record = store.get_run(reference)
    suite_ref = record.config.get("suite_ref")
    if not suite_ref:
        raise UndriftError(f"run {record.id} was imported, not run: `undrift check` needs a run made by `undrift run`, "
                           "whose suite it can ask again")
    suite = load_suite(suite_ref, seed=record.config.get("seed", 0), allow_outside=allow_outside)
    if suite.digest() != record.suite_digest:
        raise UndriftError(f"suite {suite_ref!r} changed since run {record.id}: the same samples cannot be asked again")
    rows = [r for r in store.results(record.id) if r.answered]
    earlier = {(r.task, r.sample_id): bounded_outcome(r) for r in rows if r.repeat == 0}
    if not earlier:
        raise UndriftError(f"run {record.id} holds no answered results to check against")
    repeats: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        repeats.setdefault((r.task, r.sample_id), []).append(bounded_outcome(r))
    estimated = own_churn(list(repeats.values()))
    order = sorted(earlier)
    random.Random(seed).shuffle(order)
    if max_calls:
        order = order[:max_calls]
    greedy = all(float(d.get("temperature", 0)) == 0 for d in (record.config.get("decoding") or {}).values())
    if churn is not None:
        level, source = churn, "declared"
    elif estimated is not None:
        level, source = estimated, "repeats"
    elif record.fingerprint.get("deterministic") and greedy:
        level, source = 0.0, "deterministic"  # greedy decoding of fixed local weights gives the same answer again
    else:
        level, source = None, "unknown"
    sequential = SequentialDriftCheck(tolerance, alpha, direction, level, source)
    state = sequential.state()

    def stop(rows: list[ResultRow]) -> bool:
        nonlocal state
        answers = [r for r in rows if r.answered]  # an error is not an answer: it is no evidence either way
        state = sequential.update([earlier[(r.task, r.sample_id)] for r in answers],
                                  [bounded_outcome(r) for r in answers])
        return state.decision is not None

    options = RunOptions(name=name or model.spec.display(), tasks=tuple(record.config.get("tasks") or ()) or None,
                         seed=record.config.get("seed", 0))
    runner = Runner(store, progress=progress, allow_unsandboxed=allow_unsandboxed)
    report = runner.run_until(suite, model, options, order, stop, chunk, suite_ref)
    return CheckReport(record, report.run, state, state.n, report.generated, len(earlier), tolerance, alpha)
