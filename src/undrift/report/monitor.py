"""Watches, their ticks and alerts in the terminal.  Names, specs, errors and summaries are outside text (literal)."""

from __future__ import annotations

from datetime import datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text

from typing import TYPE_CHECKING

from ..monitor import Tick, TickOutcome, Watch
from .text import literal

if TYPE_CHECKING:
    from ..api.watching import AlertRecord, WatchStatus, WatchSummary

STATUS_STYLE = {"passed": "green", "baseline": "cyan", "failed": "red", "error": "yellow", "running": "",
                "open": "red", "resolved": "green", "notice": "yellow"}


def when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def watches_table(summaries: list[WatchSummary]) -> Table:
    table = Table(title="watches", title_justify="left")
    for column in ("name", "model", "suite", "every", "next due (UTC)", "last tick", "open alert"):
        table.add_column(column)
    for summary in summaries:
        watch, tick = summary.watch, summary.last_tick
        state = literal(tick.status, STATUS_STYLE.get(tick.status)) if tick else Text("never")
        table.add_row(literal(watch.name), literal(watch.model_spec), literal(watch.suite), literal(watch.schedule),
                      when(watch.next_due_at), state, Text("yes", style="red") if summary.open_alerts else "")
    return table


def watch_detail(watch: Watch) -> Text:
    lines = [("watch", watch.name), ("model", watch.model_spec), ("suite", watch.suite),
             ("schedule", watch.schedule), ("baseline", watch.baseline),
             ("policy", "custom" if watch.policy else "default (no significant accuracy drop; NFR <= 5%)"),
             ("max calls", watch.max_calls or "the check decides"), ("webhooks", ", ".join(watch.webhooks) or "—"),
             ("alert command", watch.alert_command or "—"), ("check", _check_options(watch.options)),
             ("next due (UTC)", when(watch.next_due_at)),
             ("ticking now", watch.lease_owner or "no")]
    text = Text()
    for label, value in lines:
        text.append(f"{label:>15}: ", style="bold").append_text(literal(value)).append("\n")
    return text


def _check_options(options: dict) -> str:
    """The check's and delivery's settings in words (watch add's options, as stored)."""
    tasks = ", ".join(options.get("tasks") or ()) or "all tasks"
    limit = f", first {options['limit']} samples of each" if options.get("limit") else ""
    return (f"{tasks}{limit}; tolerance {options.get('tolerance', 0.02):g}, direction {options.get('direction', 'drop')}"
            f"; alerts tried {options.get('alert_attempts', 4)} times, backoff {options.get('alert_backoff_s', 2.0):g} s")


def ticks_table(ticks: list[Tick], title: str = "ticks") -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("tick", "started (UTC)", "status", "check", "calls", "tokens in/out"):
        table.add_column(column)
    table.add_column("runs", no_wrap=True, min_width=22)  # ids people copy: whole, never cut
    table.add_column("events / error")
    for tick in ticks:
        runs = " ".join(dict.fromkeys(r for r in (tick.check_run, tick.full_run) if r)) or "—"  # a reused check once
        notes = [f"fingerprint changed ({', '.join(e['moved']) or 'served model'})" for e in tick.events
                 if e.get("kind") == "fingerprint"]
        if tick.error:
            notes.append(tick.error)
        table.add_row(str(tick.id), when(tick.started_at), literal(tick.status, STATUS_STYLE.get(tick.status)),
                      literal(tick.check_decision or "—"), str(tick.calls), f"{tick.tokens_in}/{tick.tokens_out}",
                      literal(runs), literal("; ".join(notes) or "—"))
    return table


def tick_outcome(watch: str, outcome: TickOutcome) -> Text:
    tick = outcome.tick
    text = Text(f"{watch}: tick {tick.id} ", style="bold").append_text(
        literal(tick.status, STATUS_STYLE.get(tick.status)))
    text.append(f" — {tick.calls} calls, {tick.tokens_in} tokens in, {tick.tokens_out} out")
    if tick.check_decision:
        text.append_text(literal(f"; check said {tick.check_decision}"))
    if tick.error:
        text.append("\n  ").append_text(literal(tick.error, "yellow"))
    for notice in outcome.notices:
        text.append("\n  ").append_text(literal(notice.summary, "yellow"))
    alert = outcome.alert
    if alert is not None and outcome.alert_event == "resolved":
        text.append("\n  alert ").append_text(literal(f"#{alert.id} resolved: passing again (it opened at tick "
                                                      f"{alert.opened_tick})", STATUS_STYLE["resolved"]))
    elif alert is not None:
        text.append("\n  alert ").append_text(literal(f"#{alert.id} {outcome.alert_event}: {alert.summary}",
                                                      STATUS_STYLE.get(alert.status)))
    for delivery in outcome.deliveries:
        if not delivery.delivered:
            text.append("\n  ").append_text(literal(f"not delivered after {delivery.attempts} attempts to "
                                                     f"{delivery.target}: {delivery.error}", "yellow"))
    return text


def alerts_table(records: list[AlertRecord]) -> Table:
    table = Table(title="alerts", title_justify="left")
    for column in ("id", "watch", "kind", "status", "opened (UTC)", "ticks", "summary", "delivered"):
        table.add_column(column)
    for record in records:
        alert, done = record.alert, record.deliveries
        delivered = f"{sum(d.delivered for d in done)}/{len(done)}" if done else "—"
        ticks = f"{alert.opened_tick}–{alert.resolved_tick or alert.last_tick}"
        table.add_row(str(alert.id), literal(alert.watch), alert.kind,
                      literal(alert.status, STATUS_STYLE.get(alert.status)), when(alert.opened_at), ticks,
                      literal(alert.summary), delivered)
    return table


def outcomes_summary(outcomes: list[tuple[str, TickOutcome]]) -> Group:
    if not outcomes:
        return Group(Text("no watch was due"))
    return Group(*(tick_outcome(name, outcome) for name, outcome in outcomes))


def watch_status_view(status: WatchStatus) -> Group:
    """`undrift watch show`: the watch's settings, then its last ticks."""
    return Group(watch_detail(status.watch), ticks_table(status.ticks, title="last ticks"))


def watch_added(watch: Watch) -> Text:
    return literal(f"added watch {watch.name}: {watch.model_spec} on {watch.suite}, every {watch.schedule}; "
                   "tick it with `undrift watch run --due` from cron, or `undrift watch daemon`")


def watch_fault(watch: str, fault: Exception) -> Text:
    """One watch's fault while ticking (`*`: the store's), for stderr; the other watches still tick."""
    return Text("error: ", style="red").append_text(literal(f"watch {watch}: {fault}"))
