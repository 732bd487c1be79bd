"""Rich tables for the terminal.  Pure functions of library objects; the CLI only prints what they return."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from ..store import RunRecord
from ..summary import TaskSummary

if TYPE_CHECKING:  # only for annotations: `run` and `show` need not import the analysis modules
    from ..analysis.compare import Comparison, MetricChange
    from ..analysis.history import TaskHistory

RATE_LABELS = {"answered": "answer rate", "responded": "response rate", "executable": "executable"}


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal; a dash where there is none."""
    return "—" if value is None else f"{100 * value:.1f}%"


def task_table(summaries: list[TaskSummary], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column, justify in (("task", "left"), ("n", "right"), ("accuracy (95% CI)", "right"), ("score", "right"),
                            ("rates", "left"), ("chars", "right"), ("tokens", "right"), ("latency", "right"),
                            ("cached", "right")):
        table.add_column(column, justify=justify)
    for s in summaries:
        accuracy = "—" if s.accuracy is None else f"{pct(s.accuracy)} [{pct(s.accuracy_ci[0])}, {pct(s.accuracy_ci[1])}]"
        rates = ", ".join(f"{RATE_LABELS.get(k, k)} {pct(v)}" for k, v in s.rates.items()) or "—"
        errors = f" [red]{s.errors} errors[/red]" if s.errors else ""
        table.add_row(s.task, str(s.n), accuracy, f"{s.score:.3f}", rates + errors, f"{s.verbosity_chars:.0f}",
                      f"{s.tokens_out:.1f}", f"{s.latency_s:.3f}s", str(s.cached))
    return table


def runs_table(records: list[RunRecord]) -> Table:
    table = Table(header_style="bold")
    table.add_column("run", no_wrap=True)
    for column in ("name", "suite", "model"):
        table.add_column(column, overflow="fold")
    for column in ("status", "done", "created (UTC)"):
        table.add_column(column, no_wrap=True)
    for r in records:
        colour = {"complete": "green", "running": "yellow", "interrupted": "red"}.get(r.status, "white")
        table.add_row(r.id, r.name, r.suite, r.model_spec, f"[{colour}]{r.status}[/{colour}]", f"{r.done}/{r.expected}",
                      r.created_at.strftime("%Y-%m-%d %H:%M:%S"))
    return table


def run_header(record: RunRecord) -> str:
    fp = record.fingerprint
    weights = fp.get("weights_sha256") or fp.get("served_model") or "—"
    extra = ", ".join(f"{k}={v}" for k, v in (fp.get("options") or {}).items())
    lines = [
        f"[bold]run[/bold] {record.id}  [bold]name[/bold] {record.name}  [bold]status[/bold] {record.status} "
        f"({record.done}/{record.expected})",
        f"[bold]suite[/bold] {record.suite} ({record.suite_digest[:12]})  [bold]model[/bold] {record.model_spec}",
        f"[bold]fingerprint[/bold] {fp.get('backend')} {str(weights)[:16]}"
        + (f" adapter {fp['adapter_sha256'][:16]}" if fp.get("adapter_sha256") else "")
        + (f" system_fingerprint {fp['system_fingerprint']}" if fp.get("system_fingerprint") else "")
        + (f"  {extra}" if extra else ""),
    ]
    return "\n".join(lines)


def format_value(metric: MetricChange, value: float) -> str:
    return pct(value) if metric.kind == "rate" else f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def format_delta(metric: MetricChange, unit: bool = True) -> str:
    """A change with its interval; rates in percentage points."""
    if metric.kind == "rate":
        points = f"{100 * metric.delta:+.1f} [{100 * metric.ci[0]:+.1f},{100 * metric.ci[1]:+.1f}]"
        return points + (" pts" if unit else "")
    return f"{metric.delta:+.3g} [{metric.ci[0]:+.3g}, {metric.ci[1]:+.3g}]"


def _p(metric: MetricChange) -> str:
    p = metric.p_adjusted if metric.p_adjusted is not None else metric.p
    return "<1e-4" if p < 1e-4 else f"{p:.4f}" if p < 0.01 else f"{p:.3f}"


def _style(metric: MetricChange | None) -> str:
    if metric is None or not metric.significant:
        return ""
    better = metric.delta > 0 if metric.name not in ("refusal_rate", "latency") else metric.delta < 0
    return "green" if better else "red"


def comparison_header(comparison: Comparison) -> str:
    old, new = comparison.old, comparison.new
    left_out = comparison.left_out
    lines = [
        f"[bold]old[/bold] {old.name} ({old.id})  →  [bold]new[/bold] {new.name} ({new.id})  [bold]suite[/bold] {old.suite}",
        f"{comparison.shared} samples shared"
        + (f"; [yellow]left out {left_out}[/yellow]: {len(comparison.only_old)} only in old, "
           f"{len(comparison.only_new)} only in new, {len(comparison.prompt_changed)} with a changed prompt"
           if left_out else ", none left out"),
    ]
    for label, keys in (("only in old", comparison.only_old), ("only in new", comparison.only_new),
                        ("prompt changed", comparison.prompt_changed)):
        if keys:
            shown = ", ".join(f"{task}/{sample}" for task, sample in keys[:5])
            lines.append(f"  {label}: {shown}" + (f" and {len(keys) - 5} more (--json lists all)" if len(keys) > 5 else ""))
    repeated = [g for g in comparison.tasks if any(v is not None for v in g.agreement.values())]
    if repeated:
        lines.append("answers identical across repeats: " + "; ".join(
            f"{g.task} old {pct(g.agreement['old'])}, new {pct(g.agreement['new'])}" for g in repeated))
    return "\n".join(lines)


def comparison_table(comparison: Comparison) -> Table:
    """One row per task: its headline metric, the paired change, and the compatibility of the new version."""
    table = Table(title="by task (p: exact McNemar / Wilcoxon, Benjamini-Hochberg adjusted)", title_justify="left",
                  header_style="bold underline", box=None, padding=(0, 1), pad_edge=False)
    for column, justify in (("task (n)", "left"), ("metric", "left"), ("old", "right"), ("new", "right"),
                            ("change, pts (95% CI)", "right"), ("p", "right"), ("NFR", "right"), ("PFR", "right"),
                            ("BTC", "right"), ("BEC", "right"), ("mismatch", "right")):
        table.add_column(column, justify=justify, no_wrap=True)
    for group in comparison.tasks:
        head = group.headline
        compat = group.compatibility
        flips = (pct(compat.nfr), pct(compat.pfr), pct(compat.btc), pct(compat.bec)) if compat else (
            pct(group.score_flips.negative), pct(group.score_flips.positive), "—", "—")
        table.add_row(
            f"{group.task} ({group.n})", head.label if head else "—",
            format_value(head, head.old) if head else "—", format_value(head, head.new) if head else "—",
            format_delta(head, unit=head.kind != "rate") if head else "—", _p(head) if head else "—", *flips,
            pct(group.mismatch), style=_style(head),
        )
    return table


def significant_changes_table(comparison: Comparison) -> Table | None:
    """Every other metric (and every slice) whose change is significant after adjustment."""
    rows = []
    for group in comparison.tasks + comparison.slices:
        for metric in group.metrics.values():
            if metric.significant and (group.slice is not None or metric is not group.headline):
                rows.append((group, metric))
    if not rows:
        return None
    table = Table(title="other significant changes", title_justify="left", header_style="bold underline", box=None,
                  padding=(0, 1), pad_edge=False)
    for column, justify in (("task / slice", "left"), ("metric", "left"), ("old", "right"), ("new", "right"),
                            ("change (95% CI)", "right"), ("p", "right")):
        table.add_column(column, justify=justify)
    for group, metric in rows:
        where = group.task + (f" / {group.slice}" if group.slice else "")
        table.add_row(where, metric.label, format_value(metric, metric.old), format_value(metric, metric.new),
                      format_delta(metric), _p(metric), style=_style(metric))
    return table


def flips_table(comparison: Comparison, limit: int, width: int = 160) -> Table | None:
    """The first `limit` negative flips (then positive ones), prompt and both answers side by side."""
    chosen = sorted(comparison.flips, key=lambda f: f.kind != "negative")[:limit]
    if not chosen:
        return None
    negatives = sum(f.kind == "negative" for f in comparison.flips)
    table = Table(title=f"flipped samples ({negatives} negative, {len(comparison.flips) - negatives} positive; "
                        f"showing {len(chosen)})", title_justify="left", header_style="bold", show_lines=True)
    for column in ("sample", "prompt", "old answer", "new answer", "target"):
        table.add_column(column, overflow="fold")
    for flip in chosen:
        colour = "red" if flip.kind == "negative" else "green"
        table.add_row(f"[{colour}]{flip.kind}[/{colour}]\n{flip.task}/{flip.sample_id}", _clip(flip.prompt, width),
                      _clip(flip.old_response, width) + f"\n[dim]→ {flip.old_extracted}[/dim]",
                      _clip(flip.new_response, width) + f"\n[dim]→ {flip.new_extracted}[/dim]", str(flip.target))
    return table


def _clip(text: str, width: int) -> str:
    from rich.markup import escape

    text = " ".join((text or "").split())
    return escape(text if len(text) <= width else text[: width - 1] + "…")


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARK[int((v - low) / span * (len(SPARK) - 1))] for v in values)


def fingerprint_notes(task: TaskHistory) -> list[str]:
    return [f"{p.run_id}: fingerprint changed ({', '.join(p.fingerprint_changes)})"
            for p in task.points if p.fingerprint_changes]


def history_table(task: TaskHistory) -> Table:
    """One row per run: the value, the change against the window before it, and what flagged it."""
    rate = task.kind == "rate"
    show = (lambda v: pct(v)) if rate else (lambda v: f"{v:.3g}")
    spark = sparkline([p.value for p in task.points])
    table = Table(title=f"{task.task}: {task.metric}  {spark}", title_justify="left", header_style="bold underline",
                  box=None, padding=(0, 1), pad_edge=False)
    for column, justify in (("run", "left"), ("created (UTC)", "left"), ("n", "right"), (task.metric, "right"),
                            ("change vs before (95% CI)", "right"), ("p", "right"), ("flags", "left")):
        table.add_column(column, justify=justify, no_wrap=column != "flags", overflow="fold")
    for point in task.points:
        value = show(point.value) + (f" [{pct(point.ci[0])}, {pct(point.ci[1])}]" if point.ci else "")
        if point.delta is None:
            change, p = "—", "—"
        else:
            scale = 100 if rate else 1
            change = (f"{scale * point.delta:+.1f} [{scale * point.delta_ci[0]:+.1f},{scale * point.delta_ci[1]:+.1f}]"
                      + (" pts" if rate else ""))
            p = "<1e-4" if point.p_adjusted < 1e-4 else f"{point.p_adjusted:.3f}"
        flags = []
        if point.change_point:
            flags.append("[red]change point[/red]")
        if point.fingerprint_changes:
            flags.append("[yellow]new fingerprint[/yellow]")
        table.add_row(point.run_id, point.created_at.strftime("%Y-%m-%d %H:%M"), str(point.n), value, change, p,
                      " ".join(flags), style="bold" if point.change_point else "")
    return table
