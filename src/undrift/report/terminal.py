"""Rich tables for the terminal.  Pure functions of library objects; the CLI only prints what they return."""

from __future__ import annotations

from rich.table import Table

from ..store import RunRecord
from ..summary import TaskSummary

RATE_LABELS = {"answered": "answer rate", "responded": "response rate", "executable": "executable"}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def task_table(summaries: list[TaskSummary], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column, justify in (("task", "left"), ("n", "right"), ("accuracy (95% CI)", "right"), ("score", "right"),
                            ("rates", "left"), ("chars", "right"), ("tokens", "right"), ("latency", "right"),
                            ("cached", "right")):
        table.add_column(column, justify=justify)
    for s in summaries:
        accuracy = "—" if s.accuracy is None else f"{_pct(s.accuracy)} [{_pct(s.accuracy_ci[0])}, {_pct(s.accuracy_ci[1])}]"
        rates = ", ".join(f"{RATE_LABELS.get(k, k)} {_pct(v)}" for k, v in s.rates.items()) or "—"
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
