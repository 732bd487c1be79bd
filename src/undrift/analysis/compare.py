"""Compare two runs instance by instance: did the model change, and is the new version compatible with the old?

Only samples both runs answered are compared, matched on (task, sample id) *and* prompt; the comparison says how
many were shared and which were left out (a different prompt, asked by one run only, or only errors), so it never
silently compares different samples.  For each task and each slice it reports every metric old vs new with the
change, its 95% interval and the p-value of the test that interval inverts (Benjamini-Hochberg adjusted across
tasks for significance), the compatibility of the new version (negative/positive flips, BTC, BEC, inconsistency
flips, flips of the per-sample score difference beyond a tolerance), answer mismatch, nondeterminism across
repeats, the flipped samples, and the answers that changed without flipping.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np

from ..errors import UndriftError, option
from ..hashing import sha256_json
from ..jsonable import jsonable
from ..store import ResultRow, RunRecord, Store
from .metrics import (
    ACCURACY_LABELS,
    HEADLINE_ORDER,
    LEXICAL_SCORERS,
    METRICS,
    Metric,
    SampleKey,
    answered,
    better_direction,
    by_sample,
    fingerprint_changes,
    latency_scope,
    mean_outcome,
    repeat_label,
    repeats_of,
    sample_value,
    scorer_type,
    verdict_counts,
)
from .stats import (
    PairedBinary,
    benjamini_hochberg,
    paired_mean_change,
    paired_rate_change,
    paired_rate_tests,
    pass_at_k,
    pass_hat_k,
    rate_interval,
    wilson_interval,
)

SIGNIFICANCE = 0.05


@dataclass
class MetricChange:
    """One metric before and after on the same samples, with the change, its 95% interval and the matching test.

    `p` is the test the interval inverts (the interval excludes 0 exactly when p < 0.05); `p_adjusted` is its
    Benjamini-Hochberg adjustment across the tasks (or slices) of the comparison, which decides `significant`.
    A metric that cannot be tested (latency shared by a batch) has no interval or p and says why in `note`.
    """

    name: str
    label: str
    kind: str  # "rate" or "mean"
    n: int
    old: float
    new: float
    delta: float
    ci: tuple[float, float] | None
    p: float | None
    old_ci: tuple[float, float] | None = None
    new_ci: tuple[float, float] | None = None
    p_adjusted: float | None = None
    note: str | None = None

    @property
    def tested(self) -> bool:
        return self.p is not None

    @property
    def significant(self) -> bool:
        if not self.tested:
            return False
        return (self.p_adjusted if self.p_adjusted is not None else self.p) < SIGNIFICANCE

    @property
    def verdict(self) -> str | None:
        """"better", "worse" or "changed" (for a metric with no good direction) when significant, else None."""
        if not self.significant:
            return None
        direction = better_direction(self.name)
        if direction == 0:
            return "changed"
        return "better" if self.delta * direction > 0 else "worse"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(significant=self.significant, verdict=self.verdict)
        return jsonable(data)


@dataclass
class Compatibility:
    """How the new version's right and wrong answers line up with the old one's (one binary verdict per sample).

    NFR: share of samples right before and wrong now.  PFR: wrong before, right now.  BTC: of the samples the old
    version got right, the share the new one still gets right.  BEC: of the new version's errors, the share the old
    version made too.  Inconsistency: new wrong with an answer that differs from the old one.  The four counts
    (negative flips, both right, positive flips, both wrong) say which samples each version got right: the
    regress / common / progress view.
    """

    n: int
    negative_flips: int
    positive_flips: int
    both_right: int
    both_wrong: int
    nfr: float
    nfr_ci: tuple[float, float]
    pfr: float
    pfr_ci: tuple[float, float]
    btc: float | None
    bec: float | None
    inconsistency: float


@dataclass
class ScoreFlips:
    """Flips of the per-sample difference D(x) = S(new) - S(old): negative where D < -tolerance, positive where
    D > tolerance.  S is the sample's pass rate over its repeats where there is a verdict, else its score.

    With tolerance 0 this is the strict definition of MUSCLE (arXiv 2407.09435); it covers generative tasks that
    have a score but no right/wrong verdict, and samples asked several times.
    """

    tolerance: float
    negative: float
    positive: float
    mean_difference: float


@dataclass
class GroupComparison:
    """A task, or one slice of a task, compared on its shared samples."""

    task: str
    slice: str | None
    n: int
    metrics: dict[str, MetricChange]
    compatibility: Compatibility | None
    score_flips: ScoreFlips
    mismatch: float | None
    agreement: dict[str, float | None] = field(default_factory=dict)

    @property
    def headline(self) -> MetricChange | None:
        """The metric a reader looks at first: accuracy where there is one, else a rate, else the score."""
        return next((self.metrics[name] for name in HEADLINE_ORDER if name in self.metrics), None)

    @property
    def where(self) -> str:
        return self.task + (f" / {self.slice}" if self.slice else "")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"n": self.n}
        for name, metric in self.metrics.items():
            data[name] = metric.to_dict()
        if self.compatibility:
            c = self.compatibility
            data.update(nfr=c.nfr, nfr_ci=c.nfr_ci, pfr=c.pfr, pfr_ci=c.pfr_ci, btc=c.btc, bec=c.bec,
                        inconsistency=c.inconsistency, negative_flips=c.negative_flips,
                        positive_flips=c.positive_flips, both_right=c.both_right, both_wrong=c.both_wrong)
        else:
            data.update(nfr=self.score_flips.negative, pfr=self.score_flips.positive, btc=None, bec=None)
        data["score_flips"] = asdict(self.score_flips)
        data["mismatch"] = self.mismatch
        data["agreement_across_repeats"] = self.agreement
        return jsonable(data)


@dataclass
class Flip:
    """One sample whose outcome changed ("negative", "positive"), or whose answer changed without flipping
    ("changed"), side by side.  Values are the sample's pass rate over its repeats, or its score; `slices` are the
    sample's slice tags, so that flips can be read slice by slice."""

    task: str
    sample_id: str
    kind: str
    prompt: str
    target: Any
    old_response: str
    new_response: str
    old_extracted: str | None
    new_extracted: str | None
    old_value: float
    new_value: float
    slices: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    old: RunRecord
    new: RunRecord
    shared: int
    only_old: list[SampleKey]
    only_new: list[SampleKey]
    prompt_changed: list[SampleKey]
    errored: list[SampleKey]  # in both runs, but at least one of them has no answer to it, only errors
    tasks: list[GroupComparison]
    slices: list[GroupComparison]
    flips: list[Flip]
    changed: list[Flip]  # answers that changed without flipping the outcome
    tolerance: float
    warnings: list[str] = field(default_factory=list)

    def task(self, name: str) -> GroupComparison:
        for group in self.tasks:
            if group.task == name:
                return group
        raise UndriftError(f"the comparison has no task {name!r}: it has {', '.join(g.task for g in self.tasks)}")

    @property
    def left_out(self) -> int:
        return len(self.only_old) + len(self.only_new) + len(self.prompt_changed) + len(self.errored)

    @property
    def fingerprint_changes(self) -> dict[str, tuple[Any, Any]]:
        """The fingerprint fields (weights, adapter, options, served model...) that differ: field -> (old, new)."""
        return fingerprint_changes(self.old.fingerprint, self.new.fingerprint)

    def to_dict(self) -> dict[str, Any]:
        slices: dict[str, dict[str, Any]] = {}
        for group in self.slices:
            slices.setdefault(group.task, {})[group.slice] = group.to_dict()
        return jsonable({
            "old": _run_ref(self.old),
            "new": _run_ref(self.new),
            "shared": self.shared,
            "left_out": {
                "only_old": [list(k) for k in self.only_old],
                "only_new": [list(k) for k in self.only_new],
                "prompt_changed": [list(k) for k in self.prompt_changed],
                "errored": [list(k) for k in self.errored],
            },
            "fingerprint_changes": {k: list(v) for k, v in self.fingerprint_changes.items()},
            "tolerance": self.tolerance,
            "warnings": self.warnings,
            "tasks": {g.task: {**g.to_dict(), "slices": slices.get(g.task, {})} for g in self.tasks},
            "flips": [asdict(f) for f in self.flips],
            "changed_answers": [asdict(f) for f in self.changed],
        })


def _run_ref(record: RunRecord) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "suite": record.suite, "model_spec": record.model_spec,
            "created_at": record.created_at.isoformat(), "fingerprint": record.fingerprint}


Rows = dict[SampleKey, list[ResultRow]]


def compare_runs(store: Store, old_ref: str, new_ref: str, tolerance: float = 0.0,
                 tasks: Iterable[str] | None = None) -> Comparison:
    """Compare two stored runs (ids, id prefixes or names) on the samples they share."""
    if tolerance < 0:
        raise UndriftError(f"{option('tolerance')} must be 0 or more (got {tolerance})")
    old, new = store.get_run(old_ref), store.get_run(new_ref)
    if old.suite != new.suite:
        raise UndriftError(f"runs {old.id} and {new.id} ran different suites ({old.suite!r} and {new.suite!r}): "
                           "compare two runs of the same suite")
    wanted = set(tasks) if tasks else None
    old_rows = by_sample(store.results(old.id), wanted)
    new_rows = by_sample(store.results(new.id), wanted)
    if wanted:
        missing = sorted(wanted - {t for t, _ in old_rows} - {t for t, _ in new_rows})
        if missing:
            raise UndriftError(f"neither run has task {missing[0]!r}")
    shared, prompt_changed, errored = [], [], []
    for key in sorted(old_rows.keys() & new_rows.keys()):
        if _prompt_digest(old_rows[key][0]) != _prompt_digest(new_rows[key][0]):
            prompt_changed.append(key)
        elif not answered(old_rows[key]) or not answered(new_rows[key]):
            errored.append(key)
        else:
            shared.append(key)
    if not shared:
        raise UndriftError(f"runs {old.id} and {new.id} share no answered samples ({len(old_rows)} vs {len(new_rows)} "
                           f"asked, {len(prompt_changed)} with the same id but a different prompt, {len(errored)} "
                           "with only errors): nothing to compare")
    context = _Context(old, new, old_rows, new_rows, tolerance)
    task_groups, slice_groups, flips, changed = [], [], [], []
    for task in dict.fromkeys(t for t, _ in shared):
        keys = [k for k in shared if k[0] == task]
        task_groups.append(context.group(task, None, keys))
        for name in sorted({s for k in keys for s in (old_rows[k][0].slices or [])}):
            in_slice = [k for k in keys if name in (old_rows[k][0].slices or [])]
            slice_groups.append(context.group(task, name, in_slice))
        task_flips, task_changed = context.sample_changes(keys)
        flips += task_flips
        changed += task_changed
    context.test_rates()
    _adjust(task_groups)
    _adjust(slice_groups)
    return Comparison(
        old=old, new=new, shared=len(shared),
        only_old=sorted(old_rows.keys() - new_rows.keys()), only_new=sorted(new_rows.keys() - old_rows.keys()),
        prompt_changed=prompt_changed, errored=errored, tasks=task_groups, slices=slice_groups, flips=flips,
        changed=changed, tolerance=tolerance, warnings=_warnings(old, new, task_groups, errored),
    )


def _prompt_digest(row: ResultRow) -> str:
    return sha256_json(row.messages)


@dataclass
class _Context:
    """What every group of one comparison needs, and the binary tables whose tests run together at the end
    (the paired-rate interval is vectorised: one call for the whole comparison is much faster than one per table)."""

    old: RunRecord
    new: RunRecord
    old_rows: Rows
    new_rows: Rows
    tolerance: float
    pending: list[tuple[MetricChange, PairedBinary]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.k = min(repeats_of(self.old), repeats_of(self.new))
        self.latency_testable = latency_scope(self.old) == latency_scope(self.new) == "request"

    def group(self, task: str, slice_: str | None, keys: list[SampleKey]) -> GroupComparison:
        metrics: dict[str, MetricChange] = {}
        label = ACCURACY_LABELS.get(scorer_type(self.old, task), "accuracy")
        for metric in METRICS.values():
            change = self._metric(metric, keys, label if metric.name == "accuracy" else metric.label)
            if change is not None:
                metrics[metric.name] = change
        if "score" in metrics and self._score_is_a_rate(keys, metrics):
            del metrics["score"]  # a 0/1 score that is one of the rates already
        metrics.update(self._repeat_metrics(keys))
        # a sample's outcome: its pass rate over its answered repeats, else its mean score (a shared sample has answers)
        outcomes = [(mean_outcome(self.old_rows[k]), mean_outcome(self.new_rows[k])) for k in keys]
        difference = np.array([b - a for a, b in outcomes])
        score_flips = ScoreFlips(self.tolerance, float(np.mean(difference < -self.tolerance)),
                                 float(np.mean(difference > self.tolerance)), float(difference.mean()))
        first = lambda rows: [rows[k][0] for k in keys]  # noqa: E731  (repeat 0: what is paired across runs)
        return GroupComparison(
            task=task, slice=slice_, n=len(keys), metrics=metrics,
            compatibility=self._compatibility(keys), score_flips=score_flips,
            mismatch=_mismatch(first(self.old_rows), first(self.new_rows)),
            agreement={"old": _agreement([self.old_rows[k] for k in keys]),
                       "new": _agreement([self.new_rows[k] for k in keys])},
        )

    def _values(self, metric: Metric, keys: list[SampleKey]) -> tuple[list[float], list[float]]:
        pairs = [(sample_value(metric, self.old_rows[k]), sample_value(metric, self.new_rows[k])) for k in keys]
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
        return [a for a, _ in pairs], [b for _, b in pairs]

    def _metric(self, metric: Metric, keys: list[SampleKey], label: str) -> MetricChange | None:
        old, new = self._values(metric, keys)
        if not old:
            return None
        if metric.kind == "rate" and self._one_verdict_each(metric, keys):
            table = PairedBinary.of([v == 1.0 for v in old], [v == 1.0 for v in new])
            change = MetricChange(metric.name, label, "rate", table.n, table.old_rate, table.new_rate, table.delta,
                                  None, None, old_ci=wilson_interval(table.both + table.old_only, table.n),
                                  new_ci=wilson_interval(table.both + table.new_only, table.n))
            self.pending.append((change, table))
            return change
        result = paired_rate_change(old, new) if metric.kind == "rate" else paired_mean_change(old, new)
        change = MetricChange(metric.name, label, metric.kind, result.n, result.old_mean, result.new_mean,
                              result.delta, result.ci, result.p)
        if metric.kind == "rate":
            change.old_ci, change.new_ci = rate_interval(old), rate_interval(new)
        if metric.name == "latency" and not self.latency_testable:
            change.ci, change.p = None, None
            change.note = ("latency of a local model is shared by the answers of a batch, so it is shown but not "
                           "tested; a served model (openai:...) is timed per request")
        return change

    def _score_is_a_rate(self, keys: list[SampleKey], metrics: dict[str, MetricChange]) -> bool:
        """Whether every sample's score equals its value of one of the rates measured (accuracy, answer rate...), so
        showing it again says nothing; a graded score that happens to be 0 or 1 everywhere is not one of them."""
        scores = self._values(METRICS["score"], keys)
        return any(self._values(METRICS[name], keys) == scores for name, m in metrics.items()
                   if m.kind == "rate" and name in METRICS)

    def _one_verdict_each(self, metric: Metric, keys: list[SampleKey]) -> bool:
        """True where every shared sample has exactly one answered repeat in each run (a plain 2x2 table)."""
        return all(len([r for r in answered(rows[k]) if metric.read(r) is not None]) == 1
                   for rows in (self.old_rows, self.new_rows) for k in keys)

    def _repeat_metrics(self, keys: list[SampleKey]) -> dict[str, MetricChange]:
        """pass@k and pass^k over the k repeats both runs made (k >= 2), with the sample as the unit."""
        if self.k < 2:
            return {}
        values: dict[str, tuple[list[float], list[float]]] = {"pass_at_k": ([], []), "pass_hat_k": ([], [])}
        for key in keys:
            counts = verdict_counts(self.old_rows[key]), verdict_counts(self.new_rows[key])
            if None in counts or min(c[1] for c in counts) < self.k:
                continue
            for side, (right, attempts) in enumerate(counts):
                values["pass_at_k"][side].append(pass_at_k(right, attempts, self.k))
                values["pass_hat_k"][side].append(pass_hat_k(right, attempts, self.k))
        out = {}
        for name, (old, new) in values.items():
            if old:
                result = paired_rate_change(old, new)
                out[name] = MetricChange(name, repeat_label(name, self.k), "rate", result.n, result.old_mean, result.new_mean,
                                         result.delta, result.ci, result.p, rate_interval(old), rate_interval(new))
        return out

    def _compatibility(self, keys: list[SampleKey]) -> Compatibility | None:
        accuracy = METRICS["accuracy"]
        if not self._one_verdict_each(accuracy, keys):
            return None
        old = [answered(self.old_rows[k])[0] for k in keys]
        new = [answered(self.new_rows[k])[0] for k in keys]
        table = PairedBinary.of([bool(r.correct) for r in old], [bool(r.correct) for r in new])
        n = table.n
        inconsistent = sum(1 for a, b in zip(old, new) if b.correct is False and a.extracted != b.extracted)
        old_right = table.both + table.old_only
        new_wrong = table.old_only + table.neither
        return Compatibility(
            n=n, negative_flips=table.old_only, positive_flips=table.new_only, both_right=table.both,
            both_wrong=table.neither,
            nfr=table.old_only / n, nfr_ci=wilson_interval(table.old_only, n),
            pfr=table.new_only / n, pfr_ci=wilson_interval(table.new_only, n),
            btc=table.both / old_right if old_right else None,
            bec=table.neither / new_wrong if new_wrong else None,
            inconsistency=inconsistent / n,
        )

    def sample_changes(self, keys: list[SampleKey]) -> tuple[list[Flip], list[Flip]]:
        """The samples whose outcome flipped beyond the tolerance, and those whose answer changed without that."""
        flips, changed = [], []
        for key in keys:
            old_repeats, new_repeats = self.old_rows[key], self.new_rows[key]
            before, after = mean_outcome(old_repeats), mean_outcome(new_repeats)
            a, b = answered(old_repeats)[0], answered(new_repeats)[0]
            if after - before < -self.tolerance or after - before > self.tolerance:
                kind = "negative" if after < before else "positive"
            elif _answer(a) != _answer(b):
                kind = "changed"
            else:
                continue
            messages = a.messages or [{"content": ""}]
            entry = Flip(task=key[0], sample_id=key[1], kind=kind, prompt=messages[-1]["content"], target=a.target,
                         old_response=a.response, new_response=b.response, old_extracted=a.extracted,
                         new_extracted=b.extracted, old_value=before, new_value=after,
                         slices=list(a.slices or []))
            (changed if kind == "changed" else flips).append(entry)
        return flips, changed

    def test_rates(self) -> None:
        """Intervals and p-values of every plain 2x2 table of the comparison, in one vectorised call."""
        for (change, _), (interval, p) in zip(self.pending, paired_rate_tests([t for _, t in self.pending])):
            change.ci, change.p = interval, p
        self.pending.clear()


def _answer(row: ResultRow) -> str:
    """What a reader would call the answer: the extracted one where the scorer extracts, else the whole response."""
    return row.extracted if row.extracted is not None else " ".join((row.response or "").split())


def _mismatch(old: list[ResultRow], new: list[ResultRow]) -> float | None:
    """The LLMDrift study's mismatch: the share of samples whose extracted answers differ."""
    pairs = [(a.extracted, b.extracted) for a, b in zip(old, new)]
    if all(a is None and b is None for a, b in pairs):
        return None
    return sum(a != b for a, b in pairs) / len(pairs)


def _agreement(groups: list[list[ResultRow]]) -> float | None:
    """Share of samples whose repeats all gave the same answer (extracted, else the response); None without repeats."""
    repeated = [g for g in groups if len(g) > 1]
    if not repeated:
        return None
    same = sum(len({r.extracted if r.extracted is not None else r.response for r in g}) == 1 for g in repeated)
    return same / len(repeated)


def _adjust(groups: list[GroupComparison]) -> None:
    """Benjamini-Hochberg across the groups, separately for each metric (untested metrics take no part)."""
    names = dict.fromkeys(name for g in groups for name in g.metrics)
    for name in names:
        having = [g.metrics[name] for g in groups if name in g.metrics and g.metrics[name].tested]
        for metric, adjusted in zip(having, benjamini_hochberg([m.p for m in having])):
            metric.p_adjusted = adjusted


def error_note(run: RunRecord) -> str | None:
    """What a reader of a comparison or a gate must know about a run's errors (None if it has none)."""
    if not run.errors:
        return None
    plural = "" if run.errors == 1 else "s"
    return (f"run {run.id} ({run.name}): {run.errors} error{plural} in {run.done} requests, left out of every metric "
            "and flip; errors are not answers")


def unfit_for_gate(run: RunRecord) -> str | None:
    """Why a run is not whole evidence for a gate (None if it is): it did not complete, or more of its requests got
    errors than the run allowed (its --max-error-rate)."""
    if run.status != "complete":
        return f"is {run.status} ({run.done} of {run.expected} items)"
    if run.too_many_errors:
        return (f"got errors on {run.errors} of {run.done} requests, more than its --max-error-rate "
                f"{run.max_error_rate:.0%}")
    return None


def _warnings(old: RunRecord, new: RunRecord, groups: list[GroupComparison], errored: list[SampleKey]) -> list[str]:
    warnings = [note for note in (error_note(old), error_note(new)) if note]
    warnings += [f"run {run.id} ({run.name}) {unfit_for_gate(run)}" for run in (old, new) if run.status != "complete"]
    lexical = [g.task for g in groups if scorer_type(old, g.task) in LEXICAL_SCORERS]
    if lexical:
        warnings.append(f"{', '.join(lexical)}: verdicts rest on lexical similarity (ROUGE-L/F1), which can score a "
                        "short wrong answer above a right one; prefer a key_facts scorer or a reference-guided judge")
    if errored:
        warnings.append(f"{len(errored)} samples have only errors in one run and are left out; errors are not answers")
    if repeats_of(old) != repeats_of(new):
        warnings.append(f"the runs asked each sample a different number of times ({repeats_of(old)} and "
                        f"{repeats_of(new)}): pass@k and pass^k use k = {min(repeats_of(old), repeats_of(new))}")
    return warnings
