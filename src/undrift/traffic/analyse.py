"""`undrift traffic` as one library call: read the recorded traffic of a range, split it into windows, summarise
each, and test the current (latest) window against the reference window, metric by metric and in meaning."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import UndriftError, option
from ..jsonable import jsonable
from ..store.db import Store
from ..store.traffic import is_completion, read_traffic
from .evidence import Shown, shown_records
from .meaning import MeaningDrift, meaning_drift
from .metrics import Samples, WindowMetrics
from .twosample import MetricTest, adjust, rate_test, shift_test, tail_test
from .windows import Reference, parse_duration, parse_moment, pick_reference, split_windows

ALPHA = 0.05
MEANING = "meaning (embeddings)"


@dataclass(frozen=True)
class TrafficQuery:
    """Which traffic, cut how, compared with what (the parsed options of `undrift traffic`)."""

    since: datetime | None = None
    until: datetime | None = None
    tag: str | None = None
    model: str | None = None  # only the requests that asked for this model
    window: timedelta = timedelta(days=1)
    window_text: str = "1d"
    reference: Reference = Reference("first")
    alpha: float = ALPHA
    embed_cap: int = 500
    permutations: int = 1000
    seed: int = 0
    meaning: bool = True

    @classmethod
    def parse(cls, since: str | None = None, until: str | None = None, tag: str | None = None,
              model: str | None = None, window: str = "1d", reference: str | None = None,
              now: datetime | None = None, **options: Any) -> "TrafficQuery":
        now = now or datetime.now(timezone.utc)
        query = cls(since=parse_moment(since, option("since"), now) if since else None,
                    until=parse_moment(until, option("until"), now) if until else None, tag=tag,
                    model=model or None,
                    window=parse_duration(window, option("window")), window_text=window.strip(),
                    reference=Reference.parse(reference, now), **options)
        if query.since and query.until and query.since >= query.until:
            raise UndriftError(f"{option('since')} ({query.since:%Y-%m-%d %H:%M}) is not before {option('until')} "
                               f"({query.until:%Y-%m-%d %H:%M}): give a range that goes forward in time")
        return query


@dataclass(frozen=True)
class TrafficReport:
    query: TrafficQuery
    windows: list[WindowMetrics]
    reference: int | None  # index into windows; None where all traffic is in one window
    current: int
    tests: list[MetricTest] = field(default_factory=list)
    meaning: MeaningDrift | None = None
    changes: list[str] = field(default_factory=list)  # served model / fingerprint, reference -> current
    skipped: int = 0  # recorded requests that are not completions (/v1/models, ...)
    shown: list[Shown] = field(default_factory=list)  # the responses that show each drifted metric (evidence.py)

    @property
    def drifted(self) -> bool:
        return bool(self.changes) or any(t.drifted for t in self.tests)

    def to_dict(self) -> dict[str, Any]:
        q = self.query
        return jsonable({
            "since": q.since, "until": q.until,
            "tag": q.tag, "model": q.model, "window": q.window_text, "reference_option": q.reference.text,
            "alpha": q.alpha,
            "multiplicity": "holm",
            "windows": [w.to_dict() for w in self.windows],
            "reference": self.reference, "current": self.current,
            "tests": [t.to_dict() for t in self.tests],
            "meaning": self.meaning.to_dict() if self.meaning else None,
            "changes": self.changes, "drifted": self.drifted, "skipped_requests": self.skipped,
            "shown": [s.to_dict() for s in self.shown],
        })


def analyse_traffic(store: Store, query: TrafficQuery) -> TrafficReport:
    recorded = read_traffic(store, query.since, query.until, query.tag, model=query.model, responses=False)
    records = [r for r in recorded if is_completion(r.path)]
    if not records:
        where = "".join(f" {what} {value!r}" for what, value in (("with tag", query.tag), ("for model", query.model))
                        if value)
        raise UndriftError(f"no completions recorded{where} in the range: widen {option('since')} and "
                           f"{option('until')}, check {option('tag')} and {option('model')}, or send traffic "
                           "through the proxy first")
    windows = split_windows(records, query.window)
    samples = [Samples.of(w.records) for w in windows]
    metrics: list[WindowMetrics] = []
    for window, sample in zip(windows, samples):
        metrics.append(WindowMetrics.of(window, sample, metrics[-1] if metrics else None))
    current = len(windows) - 1
    reference = pick_reference(windows, query.reference, query.window)
    if reference is None:
        return TrafficReport(query, metrics, None, current, skipped=len(recorded) - len(records))
    old, new = samples[reference], samples[current]
    tests = [
        rate_test("error rate", old.errors, new.errors),
        rate_test("refusal rate", old.refusals, new.refusals),
        rate_test("JSON validity", old.json_valid, new.json_valid),
        shift_test("length (chars)", old.chars, new.chars, query.seed),
        shift_test("tokens out", old.tokens_out, new.tokens_out, query.seed),
        shift_test("tokens in", old.tokens_in, new.tokens_in, query.seed),
        shift_test("latency (s)", old.latency, new.latency, query.seed),
        shift_test("TTFT (s)", old.ttft, new.ttft, query.seed),
        tail_test("length (chars)", old.chars, new.chars),
        tail_test("latency (s)", old.latency, new.latency),
        tail_test("TTFT (s)", old.ttft, new.ttft),
    ]
    meaning = None
    if query.meaning:
        meaning = meaning_drift(old.answers, new.answers, query.embed_cap, query.permutations, query.seed)
        if meaning.available:
            tests.append(MetricTest(MEANING, "MMD permutation", None, None, meaning.reference_embedded,
                                    meaning.current_embedded, "MMD^2", meaning.mmd2, None, None, meaning.p_value))
    tests = adjust(tests, query.alpha)
    return TrafficReport(query, metrics, reference, current, tests, meaning,
                         _changes(metrics[reference], metrics[current]), len(recorded) - len(records),
                         shown_records(tests, windows[reference].records, windows[current].records))


def _changes(old: WindowMetrics, new: WindowMetrics) -> list[str]:
    """A served model or fingerprint change is reported as a fact, whatever the tests say."""
    changes = []
    for what, before, after in (("served model", old.served_models, new.served_models),
                                ("system_fingerprint", old.fingerprints, new.fingerprints)):
        if before != after:
            changes.append(f"{what}: {', '.join(before) or 'none'} -> {', '.join(after) or 'none'}")
    return changes
