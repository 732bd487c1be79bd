"""Rich renderings for the terminal.  Pure functions of library objects; the CLI only prints what they return.

Everything that comes from a model, a suite or a user goes through `report/text.py` (`literal`, `clean`), never into
Rich markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..analysis.metrics import FLIP_COLUMNS, FLIP_METRICS, summary_rate_label
from ..models.base import ModelSpec
from ..store import RunRecord
from ..summary import TaskSummary
from .numbers import number, p_text, pct
from .text import clean, literal

if TYPE_CHECKING:  # only for annotations: `run` and `show` need not import the analysis modules
    from ..analysis.compare import Comparison, Flip, MetricChange
    from ..analysis.history import ModelHistory, TaskHistory
    from ..check import CheckReport
    from ..gate import GateResult


VERDICT_STYLES = {"better": "green", "worse": "red", "changed": "yellow"}


def task_table(summaries: list[TaskSummary], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column, justify in (("task", "left"), ("n", "right"), ("accuracy (95% CI)", "right"), ("score", "right"),
                            ("rates", "left"), ("chars", "right"), ("tokens", "right"), ("latency", "right"),
                            ("cached", "right")):
        table.add_column(column, justify=justify)
    for s in summaries:
        accuracy = "—" if s.accuracy is None else f"{pct(s.accuracy)} [{pct(s.accuracy_ci[0])}, {pct(s.accuracy_ci[1])}]"
        rates = Text(", ".join(f"{summary_rate_label(k)} {pct(v)}" for k, v in s.rates.items()) or "—")
        if s.errors:
            rates.append(f" {s.errors} errors", style="red")
        shown = lambda value, form: "—" if value is None else format(value, form)  # noqa: E731 - no answers
        table.add_row(literal(s.task), str(s.n), accuracy, shown(s.score, ".3f"), rates, shown(s.verbosity_chars, ".0f"),
                      shown(s.tokens_out, ".1f"), shown(s.latency_s, ".3f") + "s", str(s.cached))
    return table


def runs_table(records: list[RunRecord]) -> Table:
    table = Table(header_style="bold")
    table.add_column("run", no_wrap=True)
    for column in ("name", "suite", "model"):
        table.add_column(column, overflow="fold")
    for column in ("status", "done", "created (UTC)"):
        table.add_column(column, no_wrap=True)
    for r in records:
        colour = {"complete": "green", "running": "yellow", "interrupted": "red", "failed": "red"}.get(r.status, "white")
        table.add_row(r.id, literal(r.name), literal(r.suite), literal(ModelSpec.readable(r.model_spec)),
                      Text(r.status, style=colour),
                      Text(f"{r.done}/{r.expected}").append(f" {r.errors} errors" if r.errors else "", style="red"),
                      r.created_at.strftime("%Y-%m-%d %H:%M:%S"))
    return table


def run_header(record: RunRecord) -> Text:
    fp = record.fingerprint
    weights = fp.get("weights_sha256") or fp.get("served_model") or "—"
    extra = ", ".join(f"{k}={v}" for k, v in (fp.get("options") or {}).items())
    text = Text()
    text.append("run ", style="bold").append(record.id).append("  name ", style="bold").append(clean(record.name))
    text.append("  status ", style="bold").append(f"{record.status} ({record.done}/{record.expected}")
    text.append(f", {record.errors} errors" if record.errors else "", style="red").append(")\n")
    text.append("suite ", style="bold").append(f"{clean(record.suite)} ({record.suite_digest[:12]})")
    text.append("  model ", style="bold").append(clean(ModelSpec.readable(record.model_spec)) + "\n")
    text.append("fingerprint ", style="bold").append(clean(
        f"{fp.get('backend')} {str(weights)[:16]}"
        + (f" adapter {fp['adapter_sha256'][:16]}" if fp.get("adapter_sha256") else "")
        + (f" system_fingerprint {fp['system_fingerprint']}" if fp.get("system_fingerprint") else "")
        + (f"  {extra}" if extra else "")))
    if record.config.get("sandbox"):
        text.append("\nsandbox ", style="bold").append(clean(record.config["sandbox"]))
    return text


# -- comparisons ----------------------------------------------------------------------------------------------

def format_value(metric: MetricChange, value: float) -> str:
    return pct(value) if metric.kind == "rate" else number(value)


def format_delta(metric: MetricChange, unit: bool = True) -> str:
    """A change with its interval; rates in percentage points; "not tested" where there is no interval."""
    if metric.kind == "rate":
        change = f"{100 * metric.delta:+.1f}"
        interval = "" if metric.ci is None else f" [{100 * metric.ci[0]:+.1f},{100 * metric.ci[1]:+.1f}]"
        return change + interval + (" pts" if unit else "")
    interval = "" if metric.ci is None else f" [{number(metric.ci[0], True)}, {number(metric.ci[1], True)}]"
    return number(metric.delta, True) + interval


def _style(metric: MetricChange | None) -> str:
    return VERDICT_STYLES.get(metric.verdict or "", "") if metric is not None else ""


def comparison_header(comparison: Comparison) -> Text:
    old, new = comparison.old, comparison.new
    text = Text()
    for label, record in (("old ", old), ("new ", new)):
        text.append(label, style="bold").append(
            clean(f"{record.name} ({record.id}) {ModelSpec.readable(record.model_spec)}") + "\n")
    text.append("suite ", style="bold").append(clean(old.suite))
    changes = fingerprint_differences(comparison)
    if changes:
        text.append("  fingerprint changed: ", style="yellow").append(clean("; ".join(
            f"{field} {_short(a)} → {_short(b)}" for field, (a, b) in changes.items())))
    else:
        text.append("  same fingerprint")
    text.append(f"\n{comparison.shared} samples shared")
    if comparison.left_out:
        text.append(f"; left out {comparison.left_out}", style="yellow").append(
            f": {len(comparison.only_old)} only in old, {len(comparison.only_new)} only in new, "
            f"{len(comparison.prompt_changed)} with a changed prompt, {len(comparison.errored)} with only errors")
    else:
        text.append(", none left out")
    for label, keys in (("only in old", comparison.only_old), ("only in new", comparison.only_new),
                        ("prompt changed", comparison.prompt_changed), ("only errors", comparison.errored)):
        if keys:
            shown = ", ".join(f"{task}/{sample}" for task, sample in keys[:5])
            text.append(clean(f"\n  {label}: {shown}")
                        + (f" and {len(keys) - 5} more (--json lists all)" if len(keys) > 5 else ""))
    repeated = [g for g in comparison.tasks if any(v is not None for v in g.agreement.values())]
    if repeated:
        text.append("\nanswers identical across repeats: " + clean("; ".join(
            f"{g.task} old {pct(g.agreement['old'])}, new {pct(g.agreement['new'])}" for g in repeated)))
    for warning in comparison.warnings:
        text.append("\nwarning: ", style="yellow").append(clean(warning))
    return text


def fingerprint_differences(comparison: Comparison) -> dict[str, tuple[object, object]]:
    """The fingerprint fields that differ, options spelled out one by one (`options.quant — → int8`)."""
    out: dict[str, tuple[object, object]] = {}
    for field, (before, after) in comparison.fingerprint_changes.items():
        if isinstance(before, dict) and isinstance(after, dict):
            for key in sorted(set(before) | set(after)):
                if before.get(key) != after.get(key):
                    out[f"{field}.{key}"] = (before.get(key), after.get(key))
        else:
            out[field] = (before, after)
    return out


def _short(value: object) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= 24 else text[:20] + "…"


def comparison_table(comparison: Comparison) -> Table:
    """One row per task: its headline metric, the paired change, and the compatibility of the new version."""
    table = Table(title="by task: change (rates in points) with its 95% CI; p tests what the CI shows; q adjusts p "
                        "across tasks (BH)",
                  title_justify="left", header_style="bold underline", box=None, padding=(0, 1), pad_edge=False)
    for column, justify in (("task (n)", "left"), ("metric", "left"), ("old", "right"), ("new", "right"),
                            ("change (95% CI)", "right"), ("p", "right"), ("q", "right"),
                            *((FLIP_METRICS[name], "right") for name in FLIP_COLUMNS)):
        table.add_column(column, justify=justify, no_wrap=justify == "right")  # names wrap, numbers never
    for group in comparison.tasks:
        head = group.headline
        compat = group.compatibility
        flips = (pct(compat.nfr), pct(compat.pfr), pct(compat.btc), pct(compat.bec)) if compat else (
            pct(group.score_flips.negative), pct(group.score_flips.positive), "—", "—")
        table.add_row(
            literal(f"{group.task} ({group.n})"), literal(head.label) if head else "—",
            format_value(head, head.old) if head else "—", format_value(head, head.new) if head else "—",
            format_delta(head, unit=head.kind != "rate") if head else "—",
            p_text(head.p) if head else "—", p_text(head.p_adjusted) if head else "—", *flips,
            pct(group.mismatch), style=_style(head),
        )
    return table


def significant_changes_table(comparison: Comparison) -> Table | None:
    """Every other metric (and every slice) whose change is significant after adjustment, and what was not tested."""
    rows = [(group, metric) for group in comparison.tasks + comparison.slices for metric in group.metrics.values()
            if (metric.significant and (group.slice is not None or metric is not group.headline))]
    if not rows:
        return None
    table = Table(title="other significant changes (q < 0.05)", title_justify="left", header_style="bold underline",
                  box=None, padding=(0, 1), pad_edge=False)
    for column, justify in (("task / slice", "left"), ("metric", "left"), ("old", "right"), ("new", "right"),
                            ("change (95% CI)", "right"), ("p", "right"), ("q", "right")):
        table.add_column(column, justify=justify)
    for group, metric in rows:
        table.add_row(literal(group.where), literal(metric.label), format_value(metric, metric.old),
                      format_value(metric, metric.new), format_delta(metric), p_text(metric.p),
                      p_text(metric.p_adjusted), style=_style(metric))
    return table


def untested_notes(comparison: Comparison) -> list[Text]:
    """One line per metric that is shown but not tested, with the reason (said once per reason)."""
    notes = dict.fromkeys(f"{m.label}: {m.note}" for g in comparison.tasks for m in g.metrics.values() if m.note)
    return [Text("note: ", style="yellow").append(clean(note)) for note in notes]


def flips_table(comparison: Comparison, limit: int, width: int = 160) -> Table | None:
    """The first `limit` negative flips (then positive ones), prompt and both answers side by side."""
    chosen = sorted(comparison.flips, key=lambda f: f.kind != "negative")[:limit]
    if not chosen:
        return None
    negatives = sum(f.kind == "negative" for f in comparison.flips)
    return _samples_table(f"flipped samples ({negatives} negative, {len(comparison.flips) - negatives} positive; "
                          f"showing {len(chosen)})", chosen, width)


def changed_table(comparison: Comparison, limit: int, width: int = 160) -> Table | None:
    """Samples whose answer changed although their outcome did not (a right answer worded anew, another wrong one)."""
    chosen = comparison.changed[:limit]
    if not chosen:
        return None
    return _samples_table(f"answers that changed without a flip ({len(comparison.changed)}; showing {len(chosen)})",
                          chosen, width)


def _samples_table(title: str, chosen: list[Flip], width: int) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold", show_lines=True)
    for column in ("sample", "prompt", "old answer", "new answer", "target"):
        table.add_column(column, overflow="fold")
    for entry in chosen:
        style = {"negative": "red", "positive": "green"}.get(entry.kind, "yellow")
        sample = Text(entry.kind, style=style).append(clean(f"\n{entry.task}/{entry.sample_id}"))
        table.add_row(sample, literal(_clip(entry.prompt, width)), _answer(entry.old_response, entry.old_extracted,
                      entry.old_value, width), _answer(entry.new_response, entry.new_extracted, entry.new_value, width),
                      literal("—" if entry.target is None else _clip(str(entry.target), width)))
    return table


def _answer(response: str, extracted: str | None, value: float, width: int) -> Text:
    text = literal(_clip(response, width))
    shown = _clip(extracted, width) if extracted is not None else f"score {value:.2f}"
    return text.append(clean(f"\n→ {shown}"), style="dim")


def _clip(text: str, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


# -- history --------------------------------------------------------------------------------------------------

SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARK[int((v - low) / span * (len(SPARK) - 1))] for v in values)


def fingerprint_notes(task: TaskHistory) -> list[Text]:
    return [Text(clean(f"  {p.run_id}: fingerprint changed ({', '.join(p.fingerprint_changes)})"), style="yellow")
            for p in task.points if p.fingerprint_changes]


def history_table(task: TaskHistory) -> Table:
    """One row per run: the value, the change against its regime's baseline, the test and the level it was allowed."""
    rate = task.kind == "rate"
    show = pct if rate else number
    spark = sparkline([p.value for p in task.points])
    table = Table(title=literal(f"{task.task}: {task.metric}  {spark}"), title_justify="left",
                  header_style="bold underline", box=None, padding=(0, 1), pad_edge=False)
    for column, justify in (("run", "left"), ("created (UTC)", "left"), ("n", "right"), (task.metric, "right"),
                            ("change vs baseline (CI at the level)", "right"), ("p", "right"), ("level", "right"),
                            ("flags", "left")):
        table.add_column(column, justify=justify, no_wrap=column != "flags", overflow="fold")
    for point in task.points:
        value = show(point.value) + (f" [{show(point.ci[0])}, {show(point.ci[1])}]" if point.ci else "")
        if point.delta is None:
            change = "—" if not point.baseline else "no shared samples" if not point.shared else "not tested"
        else:
            scale = 100 if rate else 1
            interval = ("" if point.delta_ci is None else
                        f" [{scale * point.delta_ci[0]:+.1f},{scale * point.delta_ci[1]:+.1f}]")
            change = f"{scale * point.delta:+.1f}{interval}" + (" pts" if rate else "")
        flags = Text()
        if point.change_point:
            flags.append("change point ", style="red")
        if point.fingerprint_changes:
            flags.append("new fingerprint", style="yellow")
        table.add_row(point.run_id, point.created_at.strftime("%Y-%m-%d %H:%M"), str(point.n), value, change,
                      p_text(point.p), "—" if point.level is None else f"{point.level:.2g}", flags,
                      style="bold" if point.change_point else "")
    return table


def history_summary(history: ModelHistory) -> Text:
    colour = {"changed": "red", "unchanged": "green"}.get(history.decision, "yellow")
    flagged = sum(p.change_point for t in history.tasks for p in t.points)
    text = Text(history.decision.upper(), style=f"bold {colour}")
    return text.append(clean(
        f": {history.name}: {flagged} change {'point' if flagged == 1 else 'points'}. Each run is tested against "
        f"the first {history.window} run(s) of its regime, the j-th test at a level fixed in advance; the "
        f"{len(history.tasks)} task series share alpha {history.alpha:g}, so a model without change shows a change "
        "point with probability at most that.\n"))


# -- check and gate -------------------------------------------------------------------------------------------

def check_report(report: CheckReport) -> Group:
    s = report.state
    colour = {"changed": "red", "unchanged": "green"}.get(s.decision or "", "yellow")
    confidence = f"{1 - report.alpha:.0%}"
    lines = [
        Text(report.decision.upper(), style=f"bold {colour}").append(clean(f": {s.reason}")),
        Text(f"  paired difference (new - old) {s.difference:+.3f}, {confidence} confidence sequence "
             f"[{s.difference_ci[0]:+.3f}, {s.difference_ci[1]:+.3f}]; e-value {s.e_value:.3g} "
             f"(direction {s.direction}, tolerance {report.tolerance:.1%})"),
        Text(f"  outcomes changed on {pct(s.flip_rate)} of samples [{pct(s.flip_rate_ci[0])}, "
             f"{pct(s.flip_rate_ci[1])}]; ").append(_churn_line(s)),
        Text(f"  {report.samples} of {report.suite_size} samples asked ({report.samples / report.suite_size:.0%} of "
             f"the suite), {report.calls} model calls; run {report.run.id} keeps the answers"),
    ]
    return Group(*lines)


def _churn_line(state) -> Text:
    """Whether answers moved more than the model's own churn; unknown churn is said, not guessed."""
    if state.churn is None:
        return Text("the model's own churn is unknown: ask the earlier run with --repeats, or give --churn",
                    style="yellow")
    source = {"repeats": "estimated from the earlier run's repeats", "declared": "declared with --churn",
              "deterministic": "a deterministic model: greedy decoding of fixed weights"}[state.churn_source]
    verdict = {"above": ("more than its churn", "red"), "within": ("within its churn", "green")}.get(
        state.churn_decision or "", ("cannot tell yet", "yellow"))
    return Text(f"the model's own churn {pct(state.churn)} ({source}): ").append(verdict[0], style=verdict[1])


def gate_report(result: GateResult, comparison: Comparison, policy_name: str) -> Group:
    old, new = comparison.old, comparison.new
    lines = [Text(clean(f"gate {old.name} ({old.id}) → {new.name} ({new.id}) on {comparison.shared} shared samples, "
                        f"policy {policy_name}"))]
    for check in result.checks:
        mark = Text("  pass  ", style="green") if check.passed else Text("  FAIL  ", style="red")
        lines.append(mark.append(clean(check.reason)))
    for note in result.notes:
        lines.append(Text("  note  ", style="yellow").append(clean(note)))
    failed = len(result.failures)
    verdict = (Text("PASSED", style="green") if result.passed else
               Text(f"FAILED ({failed} {'check' if failed == 1 else 'checks'})", style="red"))
    lines.append(Text("gate ").append(verdict))
    return Group(*lines)
