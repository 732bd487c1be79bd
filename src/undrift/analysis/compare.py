"""Compare two runs instance by instance: did the model change, and is the new version compatible with the old?

Only samples both runs answered are compared, matched on (task, sample id) *and* prompt; the comparison says how
many were shared and which were left out, so it never silently compares different samples.  For each task and
each slice it reports every metric old vs new with intervals and a paired test (Benjamini-Hochberg adjusted across
tasks), the compatibility of the new version (negative/positive flips, BTC, BEC, inconsistency flips, flips of the
score difference D(x) = S(new) - S(old) beyond a tolerance), answer mismatch, nondeterminism across repeats, and
the flipped samples themselves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from ..errors import UndriftError
from ..hashing import sha256_json
from ..store import RunRecord, Store
from .stats import PairedBinary, benjamini_hochberg, paired_continuous, wilson_interval

SIGNIFICANCE = 0.05
HEADLINE_ORDER = ("accuracy", "response_rate", "answer_rate", "executable", "score")  # what a reader looks at first

# Binary metrics read from a result row: name -> (what it is called, how to read it, or None where not measured).
RATE_METRICS: dict[str, tuple[str, Callable[[dict], bool | None]]] = {
    "accuracy": ("accuracy", lambda r: r["correct"]),
    "answer_rate": ("answer rate", lambda r: _detail(r, "answered")),
    "refusal_rate": ("refusal rate", lambda r: _negate(_detail(r, "answered"))),
    "response_rate": ("response rate", lambda r: _detail(r, "responded")),
    "executable": ("executable", lambda r: _detail(r, "executable")),
    "determined": ("answer given", lambda r: _detail(r, "determined")),
}
MEAN_METRICS: dict[str, tuple[str, Callable[[dict], float]]] = {
    "score": ("score", lambda r: float(r["value"])),
    "verbosity": ("characters", lambda r: float(len(r["response"] or ""))),
    "latency": ("latency (s)", lambda r: float(r["latency_s"] or 0.0)),
    "tokens": ("output tokens", lambda r: float(r["tokens_out"] or 0)),
}
ACCURACY_LABELS = {"code": "pass rate", "instructions": "instr. followed", "json": "format ok", "regex": "format ok"}


def _detail(row: dict, key: str) -> bool | None:
    value = (row.get("details") or {}).get(key)
    return None if value is None else bool(value)


def _negate(value: bool | None) -> bool | None:
    return None if value is None else not value


@dataclass
class MetricChange:
    """One metric before and after on the same samples: a rate (with Wilson intervals) or a mean."""

    name: str
    label: str
    kind: str  # "rate" or "mean"
    n: int
    old: float
    new: float
    delta: float
    ci: tuple[float, float]
    p: float
    old_ci: tuple[float, float] | None = None
    new_ci: tuple[float, float] | None = None
    p_adjusted: float | None = None

    @property
    def significant(self) -> bool:
        return (self.p_adjusted if self.p_adjusted is not None else self.p) < SIGNIFICANCE

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["significant"] = self.significant
        return data


@dataclass
class Compatibility:
    """How the new version's right and wrong answers line up with the old one's (binary verdicts only).

    NFR: share of samples right before and wrong now.  PFR: wrong before, right now.  BTC: of the samples the old
    version got right, the share the new one still gets right.  BEC: of the new version's errors, the share the old
    version made too.  Inconsistency: new wrong with an answer that differs from the old one.
    """

    n: int
    negative_flips: int
    positive_flips: int
    nfr: float
    nfr_ci: tuple[float, float]
    pfr: float
    pfr_ci: tuple[float, float]
    btc: float | None
    bec: float | None
    inconsistency: float


@dataclass
class ScoreFlips:
    """Flips on the score difference D(x) = S(new) - S(old): negative where D < -tolerance, positive where D > tolerance.

    With tolerance 0 this is the strict definition of MUSCLE (arXiv 2407.09435); it also covers generative tasks
    that have a score but no right/wrong verdict.
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

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"n": self.n}
        for name, metric in self.metrics.items():
            data[name] = metric.to_dict()
        if self.compatibility:
            c = self.compatibility
            data.update(nfr=c.nfr, nfr_ci=c.nfr_ci, pfr=c.pfr, pfr_ci=c.pfr_ci, btc=c.btc, bec=c.bec,
                        inconsistency=c.inconsistency, negative_flips=c.negative_flips,
                        positive_flips=c.positive_flips)
        else:
            data.update(nfr=self.score_flips.negative, pfr=self.score_flips.positive, btc=None, bec=None)
        data["score_flips"] = asdict(self.score_flips)
        data["mismatch"] = self.mismatch
        data["agreement_across_repeats"] = self.agreement
        return data


@dataclass
class Flip:
    """One sample whose outcome changed, side by side."""

    task: str
    sample_id: str
    kind: str  # "negative" or "positive"
    prompt: str
    target: Any
    old_response: str
    new_response: str
    old_extracted: str | None
    new_extracted: str | None
    old_value: float
    new_value: float


@dataclass
class Comparison:
    old: RunRecord
    new: RunRecord
    shared: int
    only_old: list[tuple[str, str]]
    only_new: list[tuple[str, str]]
    prompt_changed: list[tuple[str, str]]
    tasks: list[GroupComparison]
    slices: list[GroupComparison]
    flips: list[Flip]
    tolerance: float

    def task(self, name: str) -> GroupComparison:
        for group in self.tasks:
            if group.task == name:
                return group
        raise UndriftError(f"the comparison has no task {name!r}: it has {', '.join(g.task for g in self.tasks)}")

    @property
    def left_out(self) -> int:
        return len(self.only_old) + len(self.only_new) + len(self.prompt_changed)

    def to_dict(self) -> dict[str, Any]:
        slices: dict[str, dict[str, Any]] = {}
        for group in self.slices:
            slices.setdefault(group.task, {})[group.slice] = group.to_dict()
        return {
            "old": _run_ref(self.old),
            "new": _run_ref(self.new),
            "shared": self.shared,
            "left_out": {
                "only_old": [list(k) for k in self.only_old],
                "only_new": [list(k) for k in self.only_new],
                "prompt_changed": [list(k) for k in self.prompt_changed],
            },
            "tolerance": self.tolerance,
            "tasks": {g.task: {**g.to_dict(), "slices": slices.get(g.task, {})} for g in self.tasks},
            "flips": [asdict(f) for f in self.flips],
        }


def _run_ref(record: RunRecord) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "suite": record.suite, "model_spec": record.model_spec,
            "created_at": record.created_at.isoformat(), "fingerprint": record.fingerprint}


def compare_runs(store: Store, old_ref: str, new_ref: str, tolerance: float = 0.0,
                 tasks: Iterable[str] | None = None) -> Comparison:
    """Compare two stored runs (ids, id prefixes or names) on the samples they share."""
    if tolerance < 0:
        raise UndriftError(f"--tolerance must be 0 or more (got {tolerance})")
    old, new = store.get_run(old_ref), store.get_run(new_ref)
    if old.suite != new.suite:
        raise UndriftError(f"runs {old.id} and {new.id} ran different suites ({old.suite!r} and {new.suite!r}): "
                           "compare two runs of the same suite")
    wanted = set(tasks) if tasks else None
    old_rows = _by_sample(store.results(old.id), wanted)
    new_rows = _by_sample(store.results(new.id), wanted)
    if wanted:
        missing = sorted(wanted - {t for t, _ in old_rows} - {t for t, _ in new_rows})
        if missing:
            raise UndriftError(f"neither run has task {missing[0]!r}")
    shared, prompt_changed = [], []
    for key in sorted(old_rows.keys() & new_rows.keys()):
        if _prompt_digest(old_rows[key][0]) == _prompt_digest(new_rows[key][0]):
            shared.append(key)
        else:
            prompt_changed.append(key)
    if not shared:
        raise UndriftError(f"runs {old.id} and {new.id} share no samples ({len(old_rows)} vs {len(new_rows)} "
                           f"answered, {len(prompt_changed)} with the same id but a different prompt): nothing to compare")
    task_groups, slice_groups, flips = [], [], []
    for task in dict.fromkeys(t for t, _ in shared):
        keys = [k for k in shared if k[0] == task]
        label = ACCURACY_LABELS.get(_scorer_type(old, task), "accuracy")
        task_groups.append(_compare_group(task, None, keys, old_rows, new_rows, tolerance, label))
        slice_names = sorted({s for k in keys for s in (old_rows[k][0]["slices"] or [])})
        for name in slice_names:
            in_slice = [k for k in keys if name in (old_rows[k][0]["slices"] or [])]
            slice_groups.append(_compare_group(task, name, in_slice, old_rows, new_rows, tolerance, label))
        flips += _flips(keys, old_rows, new_rows, tolerance)
    _adjust(task_groups)
    _adjust(slice_groups)
    return Comparison(
        old=old, new=new, shared=len(shared),
        only_old=sorted(old_rows.keys() - new_rows.keys()), only_new=sorted(new_rows.keys() - old_rows.keys()),
        prompt_changed=prompt_changed, tasks=task_groups, slices=slice_groups, flips=flips, tolerance=tolerance,
    )


Rows = dict[tuple[str, str], list[dict[str, Any]]]


def _by_sample(rows: list[dict[str, Any]], wanted: set[str] | None) -> Rows:
    """Results grouped by (task, sample id), repeats in order; repeat 0 is the one paired across runs."""
    grouped: Rows = {}
    for row in rows:
        if wanted is None or row["task"] in wanted:
            grouped.setdefault((row["task"], row["sample_id"]), []).append(row)
    for repeats in grouped.values():
        repeats.sort(key=lambda r: r["repeat"])
    return grouped


def _prompt_digest(row: dict[str, Any]) -> str:
    return sha256_json(row["messages"])


def _compare_group(task: str, slice_: str | None, keys: list[tuple[str, str]], old_rows: Rows, new_rows: Rows,
                   tolerance: float, accuracy_label: str) -> GroupComparison:
    old = [old_rows[k][0] for k in keys]
    new = [new_rows[k][0] for k in keys]
    metrics: dict[str, MetricChange] = {}
    verdicts = None
    for name, (label, read) in RATE_METRICS.items():
        pairs = [(a, b) for a, b in zip(map(read, old), map(read, new)) if a is not None and b is not None]
        if not pairs:
            continue
        table = PairedBinary.of([a for a, _ in pairs], [b for _, b in pairs])
        if name == "accuracy":
            verdicts = table
            label = accuracy_label
        metrics[name] = MetricChange(
            name=name, label=label, kind="rate", n=table.n, old=table.old_rate, new=table.new_rate,
            delta=table.delta, ci=table.delta_interval(), p=table.mcnemar_p(),
            old_ci=wilson_interval(table.both + table.old_only, table.n),
            new_ci=wilson_interval(table.both + table.new_only, table.n),
        )
    old_values = np.array([r["value"] for r in old], dtype=float)
    new_values = np.array([r["value"] for r in new], dtype=float)
    binary_scores = np.isin(np.concatenate([old_values, new_values]), (0.0, 1.0)).all()
    for name, (label, read) in MEAN_METRICS.items():
        if name == "score" and binary_scores and metrics:
            continue  # a 0/1 score is one of the rates above already
        result = paired_continuous([read(r) for r in old], [read(r) for r in new])
        metrics[name] = MetricChange(name=name, label=label, kind="mean", n=len(keys), old=result.old_mean,
                                     new=result.new_mean, delta=result.delta, ci=result.ci, p=result.p)
    difference = new_values - old_values
    score_flips = ScoreFlips(tolerance, float(np.mean(difference < -tolerance)), float(np.mean(difference > tolerance)),
                             float(difference.mean()))
    return GroupComparison(
        task=task, slice=slice_, n=len(keys), metrics=metrics,
        compatibility=_compatibility(verdicts, old, new) if verdicts is not None else None,
        score_flips=score_flips, mismatch=_mismatch(old, new),
        agreement={"old": _agreement([old_rows[k] for k in keys]), "new": _agreement([new_rows[k] for k in keys])},
    )


def _scorer_type(run: RunRecord, task: str) -> str:
    return str(((run.config.get("scorers") or {}).get(task) or {}).get("type", ""))


def _compatibility(table: PairedBinary, old: list[dict], new: list[dict]) -> Compatibility:
    n = table.n
    inconsistent = sum(
        1 for a, b in zip(old, new)
        if a["correct"] is not None and b["correct"] is False and a["extracted"] != b["extracted"]
    )
    old_right = table.both + table.old_only
    new_wrong = table.old_only + table.neither
    return Compatibility(
        n=n, negative_flips=table.old_only, positive_flips=table.new_only,
        nfr=table.old_only / n, nfr_ci=wilson_interval(table.old_only, n),
        pfr=table.new_only / n, pfr_ci=wilson_interval(table.new_only, n),
        btc=table.both / old_right if old_right else None,
        bec=table.neither / new_wrong if new_wrong else None,
        inconsistency=inconsistent / n,
    )


def _mismatch(old: list[dict], new: list[dict]) -> float | None:
    """The LLMDrift study's mismatch: the share of samples whose extracted answers differ."""
    pairs = [(a["extracted"], b["extracted"]) for a, b in zip(old, new)]
    if all(a is None and b is None for a, b in pairs):
        return None
    return sum(a != b for a, b in pairs) / len(pairs)


def _agreement(groups: list[list[dict]]) -> float | None:
    """Share of samples whose repeats all gave the same answer (extracted, else the response); None without repeats."""
    repeated = [g for g in groups if len(g) > 1]
    if not repeated:
        return None
    same = sum(len({r["extracted"] if r["extracted"] is not None else r["response"] for r in g}) == 1 for g in repeated)
    return same / len(repeated)


def _flips(keys: list[tuple[str, str]], old_rows: Rows, new_rows: Rows, tolerance: float) -> list[Flip]:
    flips = []
    for key in keys:
        a, b = old_rows[key][0], new_rows[key][0]
        if a["correct"] is not None and b["correct"] is not None:
            kind = {(True, False): "negative", (False, True): "positive"}.get((a["correct"], b["correct"]))
        else:
            difference = b["value"] - a["value"]
            kind = "negative" if difference < -tolerance else "positive" if difference > tolerance else None
        if kind:
            messages = a["messages"] or [{"content": ""}]
            flips.append(Flip(task=key[0], sample_id=key[1], kind=kind, prompt=messages[-1]["content"],
                              target=a["target"], old_response=a["response"], new_response=b["response"],
                              old_extracted=a["extracted"], new_extracted=b["extracted"],
                              old_value=a["value"], new_value=b["value"]))
    return flips


def _adjust(groups: list[GroupComparison]) -> None:
    """Benjamini-Hochberg across the groups, separately for each metric."""
    names = dict.fromkeys(name for g in groups for name in g.metrics)
    for name in names:
        having = [g.metrics[name] for g in groups if name in g.metrics]
        for metric, adjusted in zip(having, benjamini_hochberg([m.p for m in having])):
            metric.p_adjusted = adjusted
