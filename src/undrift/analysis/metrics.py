"""The metric vocabulary (names, labels, which are rates), what is measured on a result row, and how a sample's
repeats become one value: shared by compare, history, the gate, summaries and every report.

The sample is the unit of every analysis.  A sample asked K times (`--repeats K`) contributes the mean of its K
values (its pass rate, for a verdict), so intervals are clustered by sample and a nondeterministic model's repeats
are not mistaken for independent evidence.  Rows that errored are not answers: they never enter a metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections import namedtuple
from typing import Any, Callable, Sequence

from ..store import RunRecord
from ..store.rows import ResultRow

SampleKey = tuple[str, str]  # (task, sample id)


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    kind: str  # "rate": a share in [0, 1]; "mean": any number
    read: Callable[[ResultRow], float | bool | None]  # None where the row does not measure it
    better: int  # +1 higher is better, -1 lower is better, 0 neither (a change is news, not a verdict)
    # What `read` looks at: fields of the row, `details.KEY` for one key of its details.  A history reads only these
    # columns of the store (`Store.result_columns`), and `column_reader` gives `read` rows that hold only them.
    reads: tuple[str, ...]

    def column_reader(self) -> Callable[[Sequence[Any]], float | bool | None]:
        """`read` over the values of `reads`, in that order, as `Store.result_columns` gives them."""
        keys = [c.split(".", 1)[1] for c in self.reads if c.startswith("details.")]
        fields = [c for c in self.reads if not c.startswith("details.")] + (["details"] if keys else [])
        row = namedtuple("Columns", fields)  # type: ignore[misc]
        plain, read = len(self.reads) - len(keys), self.read
        if not keys:
            return lambda values: read(row._make(values))
        return lambda values: read(row(*values[:plain], dict(zip(keys, values[plain:]))))


def _detail(key: str) -> Callable[[ResultRow], bool | None]:
    def read(row: ResultRow) -> bool | None:
        value = (row.details or {}).get(key)
        return None if value is None else bool(value)
    return read


def _refused(row: ResultRow) -> bool | None:
    answered = _detail("answered")(row)
    return None if answered is None else not answered


def _latency(row: ResultRow) -> float | None:
    """Only answers the model generated have a latency; a cached answer took no time and says nothing."""
    return None if row.cached else float(row.latency_s or 0.0)


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("accuracy", "accuracy", "rate", lambda r: r.correct, +1, ("correct",)),
    Metric("answer_rate", "answer rate", "rate", _detail("answered"), +1, ("details.answered",)),
    Metric("refusal_rate", "refusal rate", "rate", _refused, -1, ("details.answered",)),
    Metric("response_rate", "response rate", "rate", _detail("responded"), +1, ("details.responded",)),
    Metric("executable", "executable", "rate", _detail("executable"), +1, ("details.executable",)),
    Metric("determined", "answer given", "rate", _detail("determined"), +1, ("details.determined",)),
    Metric("json_valid", "valid JSON", "rate", _detail("json_valid"), +1, ("details.json_valid",)),
    Metric("score", "score", "mean", lambda r: float(r.value), +1, ("value",)),
    Metric("verbosity", "characters", "mean", lambda r: float(len(r.response or "")), 0, ("response",)),
    Metric("latency", "latency (s)", "mean", _latency, -1, ("cached", "latency_s")),
    Metric("tokens", "output tokens", "mean", lambda r: float(r.tokens_out or 0), 0, ("tokens_out",)),
)}
# Over repeats of a sample: at least one of k right (pass@k) and all k right (pass^k).  Only with --repeats.
REPEAT_METRICS = ("pass_at_k", "pass_hat_k")
# How the new version's outcomes line up with the old one's (analysis/compare.py's Compatibility), name -> label.
FLIP_METRICS = {"nfr": "NFR", "pfr": "PFR", "btc": "BTC", "bec": "BEC", "inconsistency": "inconsistency",
                "mismatch": "mismatch"}
FLIP_COLUMNS = ("nfr", "pfr", "btc", "bec", "mismatch")  # the compatibility columns of every comparison table
# Every metric a gate policy can name, in the order its messages list them.
POLICY_METRICS = (*METRICS, *REPEAT_METRICS, *FLIP_METRICS)
# The metrics that are shares in [0, 1] (a gate refuses a limit on one outside [0, 1]).
RATE_METRICS = frozenset({name for name, m in METRICS.items() if m.kind == "rate"} | set(REPEAT_METRICS)
                         | set(FLIP_METRICS))
# The rates a run's summary shows, by the scorer detail they count -> the metric that detail measures.
SUMMARY_RATES = {"answered": "answer_rate", "responded": "response_rate", "executable": "executable"}
# What a reader looks at first.  A graded score comes before the answer rate: only a replay measures both, and there
# the similarity to the recorded answer is the headline, its refusals a detail.
HEADLINE_ORDER = ("accuracy", "response_rate", "score", "answer_rate", "executable")
ACCURACY_LABELS = {"code": "pass rate", "instructions": "instr. followed", "json": "format ok", "regex": "format ok"}
LEXICAL_SCORERS = {"similarity", "replay"}  # verdicts from word overlap: a short wrong answer can outscore a long right one


def repeat_label(name: str, k: int) -> str:
    """pass@k or pass^k with the k the comparison used."""
    return f"pass@{k}" if name == "pass_at_k" else f"pass^{k}"


def summary_rate_label(detail: str) -> str:
    """The label of a summary's rate (`SUMMARY_RATES`), e.g. "answer rate" for the detail "answered"."""
    return METRICS[SUMMARY_RATES[detail]].label if detail in SUMMARY_RATES else detail


def better_direction(name: str) -> int:
    """+1 where a rise is good news, -1 where a fall is, 0 where neither (verbosity, tokens)."""
    return METRICS[name].better if name in METRICS else +1  # pass@k and pass^k: higher is better


def by_sample(rows: list[ResultRow], tasks: set[str] | None = None) -> dict[SampleKey, list[ResultRow]]:
    """Result rows grouped by (task, sample id), repeats in order."""
    grouped: dict[SampleKey, list[ResultRow]] = {}
    for row in rows:
        if tasks is None or row.task in tasks:
            grouped.setdefault((row.task, row.sample_id), []).append(row)
    for repeats in grouped.values():
        repeats.sort(key=lambda r: r.repeat)
    return grouped


def answered(repeats: list[ResultRow]) -> list[ResultRow]:
    """The repeats that are answers (an errored request is not one)."""
    return [r for r in repeats if r.answered]


def mean_outcome(rows: list[ResultRow]) -> float | None:
    """The mean `ResultRow.outcome` of the answered rows, verdicts first: the share right where any row has a verdict
    (rows without one then count for nothing), else the mean score; None where no row holds an answer.

    Over a sample's repeats it is the sample's outcome (compare's flips); over a run's rows, its accuracy
    (forgetting, the training sweep)."""
    answers = answered(rows)
    outcomes = [r.outcome for r in answers if r.correct is not None] or [r.outcome for r in answers]
    values = [v for v in outcomes if v is not None]
    return sum(values) / len(values) if values else None


def sample_value(metric: Metric, repeats: list[ResultRow]) -> float | None:
    """The sample's value: the mean over its answered repeats (a pass rate for a verdict); None if unmeasured."""
    values = [metric.read(r) for r in answered(repeats)]
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


def verdict_counts(repeats: list[ResultRow]) -> tuple[int, int] | None:
    """(right, attempts) over the sample's answered repeats that have a verdict; None without one."""
    verdicts = [r.correct for r in answered(repeats) if r.correct is not None]
    return (sum(bool(v) for v in verdicts), len(verdicts)) if verdicts else None


def repeats_of(record: RunRecord) -> int:
    return int(record.config.get("repeats") or 1)


def latency_scope(record: RunRecord) -> str:
    """"request" where each answer's latency was its own request's; "batch" where answers shared a batch on a
    local model, so their latencies move together and cannot be tested sample by sample."""
    scope = record.config.get("latency_scope")
    if scope:
        return str(scope)
    return "batch" if record.fingerprint.get("backend") in ("bundled", "hf", "gguf") else "request"


def scorer_type(record: RunRecord, task: str) -> str:
    return str(((record.config.get("scorers") or {}).get(task) or {}).get("type", ""))


def fingerprint_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The fingerprint fields (weights, adapter, options, served model...) that differ: field -> (before, after)."""
    return {k: (before.get(k), after.get(k)) for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}
