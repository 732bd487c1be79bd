"""The terminal rendering of `undrift traffic`: the windows, the tests between the reference and the current window,
the drift of meaning with the responses that show it.  Served models, fingerprints, tags and responses come from
outside, so they go through `literal`/`clean`, never into markup."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .numbers import number, p_text, pct, points
from .text import clean, literal

if TYPE_CHECKING:
    from ..traffic.analyse import TrafficReport
    from ..traffic.meaning import Example, MeaningDrift
    from ..traffic.metrics import Percentiles
    from ..traffic.twosample import MetricTest

_WIDTH = 160  # characters of a response shown


def traffic_report(report: TrafficReport) -> Group:
    parts: list = [_header(report), windows_table(report), timings_table(report)]
    models = models_table(report)
    if models is not None:
        parts.append(models)
    if report.reference is None:
        parts.append(Text("all the traffic is in one window: nothing to compare it with yet (use a shorter --window "
                          "or a wider --since)", style="yellow"))
        return Group(*parts)
    parts.append(tests_table(report))
    for change in report.changes:
        parts.append(Text("changed: ", style="red").append(clean(change)))
    if report.meaning is not None:
        parts.extend(meaning_parts(report.meaning))
    verdict = (Text("drift: the current window differs from the reference (Holm-adjusted p < "
                    f"{report.query.alpha:g}, or a served model/fingerprint change)", style="red") if report.drifted
               else Text("no drift detected between the reference and the current window", style="green"))
    parts.append(verdict)
    return Group(*parts)


def _header(report: TrafficReport) -> Text:
    q = report.query
    span = f"{_when(q.since) if q.since else 'the first record'} to {_when(q.until) if q.until else 'now'}"
    text = Text(f"traffic from {span}, windows of {q.window_text} (UTC)")
    if q.tag:
        text.append(", tag ").append(literal(q.tag))
    if q.model:
        text.append(", model ").append(literal(q.model))
    if report.reference is not None:
        text.append(f"; reference {_when(report.windows[report.reference].start)} ({q.reference.text}), current "
                    f"{_when(report.windows[report.current].start)}")
    if report.skipped:
        text.append(f"; {report.skipped} requests to other paths left out", style="dim")
    return text


def windows_table(report: TrafficReport) -> Table:
    """Counts, rates, length and tokens per window; the timings have a table of their own, so that both fit a
    terminal of 100 columns with no number cut off."""
    table = _window_columns("windows", ("requests", "errors", "refusals", "JSON ok", "chars p50",
                                        "tokens in/out (mean)"))
    for i, w in enumerate(report.windows):
        table.add_row(_window(report, i), str(w.requests), _rate(w.errors), _rate(w.refusals),
                      _rate(w.json_valid, of=True), _value(w.chars_median),
                      f"{_tokens(w.tokens_in_mean)}/{_tokens(w.tokens_out_mean)}")
    return table


def timings_table(report: TrafficReport) -> Table:
    table = _window_columns("latency and time to first token (TTFT, streams only), in seconds, of the requests "
                            "that did not fail", ("latency p50", "p90", "p99", "TTFT p50", "p90", "p99"))
    for i, w in enumerate(report.windows):
        table.add_row(_window(report, i), *_percentiles(w.latency), *_percentiles(w.ttft))
    return table


def _window_columns(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("window (UTC)", no_wrap=True)
    for column in columns:
        table.add_column(column, justify="right", overflow="fold")
    return table


def _window(report: TrafficReport, i: int) -> Text:
    role = " ref" if i == report.reference else " now" if i == report.current else ""
    return Text(_when(report.windows[i].start)).append(role, style="bold")


def models_table(report: TrafficReport) -> Table | None:
    """Served models and fingerprints per window, a change from the window before marked; None where none recorded."""
    if not any(w.served_models or w.fingerprints for w in report.windows):
        return None
    table = Table(title="served model and system_fingerprint", title_justify="left", header_style="bold")
    for column in ("window (UTC)", "served model", "system_fingerprint"):
        table.add_column(column, overflow="fold")
    for w in report.windows:
        table.add_row(_when(w.start), _values(w.served_models, w.served_model_changed),
                      _values(w.fingerprints, w.fingerprint_changed))
    return table


def tests_table(report: TrafficReport) -> Table:
    table = Table(title=f"reference vs current (two-sided tests, Holm-adjusted across {_tested(report)} tests)",
                  title_justify="left", header_style="bold", caption_justify="left",
                  caption="rates and > p95 shares (of both windows pooled): Fisher's exact test, change in points; "
                          "length, tokens, latency, TTFT: Mann-Whitney U, medians and Hodges-Lehmann shift; "
                          "meaning: MMD permutation test")
    for column in ("metric", "reference", "current", "effect [95% CI]", "p", "p Holm", ""):
        table.add_column(column, justify="left" if column in ("metric", "") else "right", overflow="fold")
    for t in report.tests:
        table.add_row(_metric(t), _side(t, t.reference, t.n_reference), _side(t, t.current, t.n_current),
                      _effect(t), p_text(t.p_value), p_text(t.p_adjusted),
                      Text("drifted", style="red") if t.drifted else Text("—" if t.p_value is None else ""))
    return table


def meaning_parts(meaning: MeaningDrift) -> list:
    if not meaning.available:
        return [Text("note: ", style="yellow").append(clean(meaning.note))]
    parts: list = [Text(f"meaning: MMD^2 {meaning.mmd2:.4g} (RBF kernel, bandwidth {meaning.bandwidth:.3g} by the "
                        f"median heuristic), permutation p {p_text(meaning.p_value)} ({meaning.permutations} "
                        f"permutations, seed {meaning.seed}); embedded {meaning.reference_embedded} of "
                        f"{meaning.reference_answers} reference and {meaning.current_embedded} of "
                        f"{meaning.current_answers} current answers")]
    if meaning.note:
        parts.append(Text("note: ", style="yellow").append(clean(meaning.note)))
    table = Table(title="responses that show the shift (witness function)", title_justify="left",
                  header_style="bold", show_lines=True)
    for column in ("side", "record", "witness", "response"):
        table.add_column(column, overflow="fold")
    for side, examples in (("typical of the reference", meaning.reference_examples),
                           ("typical of the current", meaning.current_examples)):
        for example in examples:
            table.add_row(side, _record(example), f"{example.witness:+.3f}", literal(_clip(example.text)))
    parts.append(table)
    return parts


def _record(example: Example) -> str:
    return f"#{example.record_id} {_when(example.at)}"


def _tested(report: TrafficReport) -> int:
    return sum(t.p_value is not None for t in report.tests)


def _metric(test: MetricTest) -> str:
    """A tail test's metric with its threshold: `latency (s) > p95 (2.31)`."""
    return test.metric if test.threshold is None else f"{test.metric} ({number(test.threshold)})"


def _side(test: MetricTest, value: float | None, n: int) -> str:
    if test.test == "MMD permutation":
        return f"n={n}"
    if value is None:
        return "—"
    return f"{pct(value) if test.test == 'Fisher exact' else number(value)} (n={n})"


def _effect(test: MetricTest) -> str:
    if test.estimate is None:
        return "—"
    if test.test == "MMD permutation":
        return f"MMD^2 {test.estimate:.4g}"
    if test.test == "Fisher exact":
        return f"{points(test.estimate)} [{100 * test.low:+.1f}, {100 * test.high:+.1f}]"
    return f"{number(test.estimate, signed=True)} [{number(test.low, signed=True)}, {number(test.high, signed=True)}]"


def _rate(rate, of: bool = False) -> str:
    """A window's rate; the count it is of where that is not the window's answers (valid JSON)."""
    return "—" if rate.n == 0 else f"{pct(rate.value)} of {rate.n}" if of else pct(rate.value)


def _value(value: float | None) -> str:
    return "—" if value is None else number(value)


def _tokens(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _percentiles(p: Percentiles | None) -> tuple[str, str, str]:
    return ("—",) * 3 if p is None else (number(p.p50), number(p.p90), number(p.p99))


def _values(values: list[str], changed: bool) -> Text:
    text = literal(", ".join(values) or "—")
    return text.append("  (changed)", style="red") if changed else text


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d" if (moment.hour, moment.minute) == (0, 0) else "%Y-%m-%d %H:%M")


def _clip(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"
