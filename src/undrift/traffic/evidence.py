"""The recorded responses that show a drift, so that a reader sees what the numbers mean: for each metric that
drifted between the reference and the current window, a few records furthest in the direction it moved.

- a rate that rose (errors, refusals, invalid JSON): the current window's records that have it; one that fell: the
  reference window's (what the current window no longer does);
- a continuous metric (length, tokens, latency, TTFT, and their tails above the p95) that grew: the current
  window's largest values; one that shrank: its smallest.

A record's values are measured as the window's metrics measure them (metrics.py's definitions of an error, an
answer, a refusal and an answer meant as JSON).  The drift of meaning has its own examples (meaning.py's witness).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..jsonable import jsonable
from ..scoring.formats import parse_json_response
from ..scoring.refusal import is_refusal
from ..store.traffic import TrafficRecord
from .meaning import EXCERPT
from .metrics import answer_text, expects_json, is_error
from .twosample import MetricTest

PER_METRIC = 3  # records shown for each drifted metric


@dataclass(frozen=True)
class Shown:
    """A recorded response that shows the drift of `metric`, with its own value of it."""

    metric: str  # as the test names it
    window: str  # "reference" or "current"
    record_id: int | None
    at: Any  # datetime
    status: int
    value: float | bool
    text: str | None  # the first EXCERPT characters of the response (None: it carried no text, e.g. an error)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dict(self.__dict__))


def _refused(record: TrafficRecord) -> bool | None:
    text = answer_text(record)
    return None if text is None or record.finish_reason == "tool_calls" else is_refusal(text)


def _invalid_json(record: TrafficRecord) -> bool | None:
    text = answer_text(record)
    return None if text is None or not expects_json(record, text) else parse_json_response(text)[1] is not None


def _ok(value: Callable[[TrafficRecord], Any]) -> Callable[[TrafficRecord], Any]:
    """A value measured on the requests that did not fail only."""
    return lambda record: None if is_error(record) else value(record)


# metric (as analyse.py names its tests) -> (a record's value, or None where it is not measured; +1 where a rise of
# the test's estimate means more records with the flag, -1 where it means fewer: a rise of JSON *validity*)
RATES: dict[str, tuple[Callable[[TrafficRecord], bool | None], int]] = {
    "error rate": (is_error, 1),
    "refusal rate": (_refused, 1),
    "JSON validity": (_invalid_json, -1),
}
AMOUNTS: dict[str, Callable[[TrafficRecord], float | None]] = {
    "length (chars)": lambda r: None if answer_text(r) is None else len(answer_text(r)),
    "tokens out": _ok(lambda r: r.tokens_out),
    "tokens in": _ok(lambda r: r.tokens_in),
    "latency (s)": _ok(lambda r: r.latency_s),
    "TTFT (s)": _ok(lambda r: r.ttft_s),
}


def shown_records(tests: list[MetricTest], reference: list[TrafficRecord], current: list[TrafficRecord],
                  count: int = PER_METRIC) -> list[Shown]:
    """The records that show each drifted test's change, in the order of the tests."""
    shown: list[Shown] = []
    for test in tests:
        if not test.drifted or test.estimate is None:
            continue
        base = test.metric.split(" > p")[0]
        if test.metric in RATES:
            flag, sign = RATES[test.metric]
            rose = test.estimate * sign > 0
            window, records = ("current", current) if rose else ("reference", reference)
            picked = [(r, True) for r in records if flag(r)][:count]
        elif base in AMOUNTS:
            measured = [(r, AMOUNTS[base](r)) for r in current]
            measured = [(r, v) for r, v in measured if v is not None]
            window = "current"
            picked = sorted(measured, key=lambda pair: pair[1], reverse=test.estimate > 0)[:count]
        else:  # the drift of meaning shows its own examples
            continue
        shown.extend(Shown(test.metric, window, r.id, r.at, r.status, value,
                           r.response_text[:EXCERPT] if r.response_text is not None else None)
                     for r, value in picked)
    return shown
