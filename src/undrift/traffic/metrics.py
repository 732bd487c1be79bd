"""What one window of live traffic looks like: requests, errors, answers (length, refusals, JSON), latency and
time to first token, tokens, and the served models and fingerprints.

Which records count where (docs/traffic.md says the same to users):
- every request counts in `requests` and in the error rate; an *error* is a status >= 400 or an error the proxy
  noted (an upstream that refused or hung), and an error is never read as an answer;
- *answers* are the other requests whose response has text: they feed the length, the refusal rate (the project's
  one refusal detector, `scoring.refusal.is_refusal`; a tool call is not a refusal, so `finish_reason: tool_calls`
  is left out of it), the JSON validity and the drift of meaning;
- latency, time to first token (streams only) and tokens come from the requests that did not fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..jsonable import jsonable
from ..scoring.formats import parse_json_response
from ..scoring.refusal import is_refusal
from ..store.traffic import TrafficRecord
from .windows import Window

_JSON_FORMATS = ("json_object", "json_schema")
_JSON_FENCE = "```json"


def is_error(record: TrafficRecord) -> bool:
    return record.status >= 400 or bool(record.error)


def answer_text(record: TrafficRecord) -> str | None:
    """The assistant's text where the request succeeded; None where it failed or carried no text."""
    return None if is_error(record) else record.response_text


def expects_json(record: TrafficRecord, text: str) -> bool:
    """JSON validity is measured on the answers meant as JSON: the request asked for it (`response_format` of type
    json_object or json_schema), or the answer starts with `{` or holds a ```json fence, so a broken object counts
    as invalid rather than as prose.  A leading `[` is not enough: `[Yes]` or `[1] See the docs` are prose, and a
    JSON array nobody asked for is rare enough to leave out rather than count every bracketed answer as broken."""
    request = record.request if isinstance(record.request, dict) else {}
    response_format = request.get("response_format")
    asked = isinstance(response_format, dict) and response_format.get("type") in _JSON_FORMATS
    return asked or text.lstrip().startswith("{") or _JSON_FENCE in text


@dataclass
class Samples:
    """One window's per-record values, the input of both the window's summary and the two-sample tests."""

    errors: list[bool] = field(default_factory=list)
    refusals: list[bool] = field(default_factory=list)
    json_valid: list[bool] = field(default_factory=list)
    chars: list[float] = field(default_factory=list)
    tokens_out: list[float] = field(default_factory=list)
    tokens_in: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    answers: list[TrafficRecord] = field(default_factory=list)  # succeeded, with non-empty text: for the meaning

    @classmethod
    def of(cls, records: list[TrafficRecord]) -> "Samples":
        samples = cls()
        for record in records:
            samples.errors.append(is_error(record))
            if is_error(record):
                continue
            samples.latency.append(record.latency_s)
            if record.ttft_s is not None:
                samples.ttft.append(record.ttft_s)
            if record.tokens_out is not None:
                samples.tokens_out.append(record.tokens_out)
            if record.tokens_in is not None:
                samples.tokens_in.append(record.tokens_in)
            text = answer_text(record)
            if text is None:
                continue
            samples.chars.append(len(text))
            if record.finish_reason != "tool_calls":
                samples.refusals.append(is_refusal(text))
            if expects_json(record, text):
                samples.json_valid.append(parse_json_response(text)[1] is None)
            if text.strip():
                samples.answers.append(record)
        return samples


@dataclass(frozen=True)
class Percentiles:
    """p50, p90 and p99 by linear interpolation between order statistics (NumPy's default)."""

    p50: float
    p90: float
    p99: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> "Percentiles | None":
        if not values:
            return None
        p50, p90, p99 = (float(v) for v in np.percentile(np.asarray(values, dtype=float), [50, 90, 99]))
        return cls(p50, p90, p99, len(values))

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"p50": self.p50, "p90": self.p90, "p99": self.p99, "n": self.n})


@dataclass(frozen=True)
class Rate:
    count: int
    n: int

    @property
    def value(self) -> float | None:
        return self.count / self.n if self.n else None

    @classmethod
    def of(cls, flags: list[bool]) -> "Rate":
        return cls(sum(flags), len(flags))

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"count": self.count, "n": self.n, "rate": self.value})


@dataclass(frozen=True)
class WindowMetrics:
    start: Any  # datetime
    end: Any
    requests: int
    errors: Rate
    refusals: Rate  # of the answers
    json_valid: Rate  # of the answers that had to be JSON
    chars_mean: float | None
    chars_median: float | None
    tokens_out_mean: float | None
    tokens_in_mean: float | None
    latency: Percentiles | None
    ttft: Percentiles | None
    served_models: list[str]
    fingerprints: list[str]
    served_model_changed: bool  # the set of values differs from the window before (with traffic)
    fingerprint_changed: bool

    @classmethod
    def of(cls, window: Window, samples: Samples, before: "WindowMetrics | None") -> "WindowMetrics":
        served = sorted({r.served_model for r in window.records if r.served_model})
        fingerprints = sorted({r.system_fingerprint for r in window.records if r.system_fingerprint})
        return cls(
            start=window.start, end=window.end, requests=len(window.records),
            errors=Rate.of(samples.errors), refusals=Rate.of(samples.refusals),
            json_valid=Rate.of(samples.json_valid),
            chars_mean=_mean(samples.chars), chars_median=_median(samples.chars),
            tokens_out_mean=_mean(samples.tokens_out), tokens_in_mean=_mean(samples.tokens_in),
            latency=Percentiles.of(samples.latency), ttft=Percentiles.of(samples.ttft),
            served_models=served, fingerprints=fingerprints,
            served_model_changed=before is not None and served != before.served_models,
            fingerprint_changed=before is not None and fingerprints != before.fingerprints,
        )

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "start": self.start, "end": self.end, "requests": self.requests,
            "errors": self.errors.to_dict(), "refusals": self.refusals.to_dict(),
            "json_valid": self.json_valid.to_dict(),
            "chars_mean": self.chars_mean, "chars_median": self.chars_median,
            "tokens_out_mean": self.tokens_out_mean, "tokens_in_mean": self.tokens_in_mean,
            "latency_s": self.latency.to_dict() if self.latency else None,
            "ttft_s": self.ttft.to_dict() if self.ttft else None,
            "served_models": self.served_models, "fingerprints": self.fingerprints,
            "served_model_changed": self.served_model_changed, "fingerprint_changed": self.fingerprint_changed,
        })


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None
