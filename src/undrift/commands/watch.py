"""`undrift watch ...` and `undrift alerts`: watches kept in the store, ticked by cron or by the daemon."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UndriftError
from ..report.text import literal
from .common import AllowUnsandboxed, Db, Json, Quiet, err, out, print_json, terminate_as_interrupt

watch_app = typer.Typer(no_args_is_help=True, help="Watch a model on a schedule: check, gate, alert.")


@watch_app.command("add")
def add(
    name: str = typer.Argument(..., help="name of the watch"),
    model: str = typer.Option(..., "--model", "-m", help="model spec to watch, e.g. openai:gpt-4o"),
    suite: str = typer.Option(..., help="built-in suite name or suite .yaml file"),
    every: str = typer.Option(..., help="how often: 30m, 6h, 1d, or 'cron: 0 6 * * *' (UTC)"),
    baseline: str = typer.Option("first", help="run to compare against (id, prefix or name), or `first`: the "
                                               "watch's first full run"),
    policy: Optional[Path] = typer.Option(None, help="gate policy YAML (default: no significant accuracy drop, "
                                                     "NFR <= 5%); kept in the store"),
    max_calls: Optional[int] = typer.Option(None, help="most samples the cheap check may ask before a full run"),
    alert_webhook: list[str] = typer.Option([], help="URL to POST alerts to as JSON (repeatable)"),
    alert_command: Optional[str] = typer.Option(None, help="command that gets each alert as JSON on stdin"),
    tasks: Optional[str] = typer.Option(None, help="comma-separated tasks of the suite (default: all)"),
    limit: Optional[int] = typer.Option(None, help="first N samples of each task"),
    tolerance: float = typer.Option(0.02, help="the check's tolerance: a drop within it counts as unchanged"),
    direction: str = typer.Option("drop", help="the check's direction: drop, or any (also rises)"),
    alert_attempts: int = typer.Option(4, min=1, help="tries per alert delivery"),
    alert_backoff: float = typer.Option(2.0, min=0.0, help="seconds before the second try, doubling after"),
    db: Db = None,
) -> None:
    """Add a watch; it is due at once, and its first tick sets the baseline when it is `first`."""
    from ..api.watching import add_watch
    from ..report.monitor import watch_added

    out.print(watch_added(add_watch(name, model, suite, every, baseline=baseline, policy=policy, max_calls=max_calls,
                                    webhooks=alert_webhook, alert_command=alert_command, tasks=tasks, limit=limit,
                                    tolerance=tolerance, direction=direction, alert_attempts=alert_attempts,
                                    alert_backoff_s=alert_backoff, db=db)))


@watch_app.command("list")
def list_(db: Db = None, as_json: Json = False) -> None:
    """Every watch, when it is due next and how its last tick went."""
    from ..api.watching import watch_summaries
    from ..report.monitor import watches_table

    summaries = watch_summaries(db=db)
    if as_json:
        print_json([s.to_dict() for s in summaries])
        return
    out.print(watches_table(summaries))


@watch_app.command("show")
def show(name: str = typer.Argument(..., help="watch name"), db: Db = None, as_json: Json = False) -> None:
    """One watch: its settings and its last ticks."""
    from ..api.watching import watch_status
    from ..report.monitor import watch_status_view

    status = watch_status(name, db=db)
    if as_json:
        print_json(status.to_dict())
        return
    out.print(watch_status_view(status))


@watch_app.command("remove")
def remove(name: str = typer.Argument(..., help="watch name"), db: Db = None) -> None:
    """Stop watching; the watch's ticks, runs and alerts stay in the store."""
    from ..api.watching import remove_watch

    remove_watch(name, db=db)
    out.print(literal(f"removed watch {name}"))


@watch_app.command("history")
def history(name: str = typer.Argument(..., help="watch name"),
            limit: int = typer.Option(50, min=1, help="most recent ticks to show"),
            db: Db = None, as_json: Json = False) -> None:
    """Every tick of a watch: its verdict, what it cost (calls, tokens) and what it saw change.  A removed watch's
    ticks stay in the store and are shown too."""
    from ..api.watching import watch_history
    from ..report.monitor import ticks_table

    rows = watch_history(name, limit=limit, db=db)
    if as_json:
        print_json([t.to_dict() for t in rows])
        return
    out.print(ticks_table(rows, title=f"ticks of {name}"))


@watch_app.command("run")
def run(name: Optional[str] = typer.Argument(None, help="tick this watch now, due or not"),
        due: bool = typer.Option(False, "--due", help="tick every watch that is due, once (for cron)"),
        allow_unsandboxed: AllowUnsandboxed = False,
        quiet: Quiet = False,
        db: Db = None, as_json: Json = False) -> None:
    """Tick watches once. Exit status: 0 all passed, 1 a gate failed (an alert is open), 3 a tick erred."""
    from ..api.watching import run_due, tick_watch
    from ..monitor.scheduler import ticked_elsewhere
    from ..report.monitor import outcomes_summary

    if bool(name) == due:
        raise UndriftError("give a watch name, or --due to tick every watch that is due")

    def tick() -> list:
        if due:
            return [(o.tick.watch, o) for o in run_due(db=db, progress=not quiet,
                                                        allow_unsandboxed=allow_unsandboxed, on_fault=_fault)]
        outcome = tick_watch(name, db=db, progress=not quiet, allow_unsandboxed=allow_unsandboxed)
        if outcome is None:
            raise ticked_elsewhere(name)
        return [(name, outcome)]

    outcomes = _stoppable(tick)
    if as_json:
        print_json([o.to_dict() for _, o in outcomes])
    else:
        out.print(outcomes_summary(outcomes))
    statuses = {o.tick.status for _, o in outcomes}
    if "failed" in statuses:
        raise typer.Exit(1)
    if "error" in statuses:
        raise typer.Exit(3)


def _fault(watch: str, fault: Exception) -> None:
    from ..report.monitor import watch_fault

    err.print(watch_fault(watch, fault))


def _stoppable(work):
    """Run `work` with SIGTERM (a CronJob's deadline, systemd stopping the job) handled like Ctrl-C: the tick in
    progress is recorded as interrupted and the watch stays due; exit 130."""
    import signal

    from ..monitor.scheduler import INTERRUPTED
    from ..runner import RunInterrupted

    previous = signal.signal(signal.SIGTERM, terminate_as_interrupt)
    try:
        return work()
    except (KeyboardInterrupt, RunInterrupted):
        err.print(literal(INTERRUPTED))
        raise typer.Exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)


@watch_app.command("daemon")
def daemon(poll: float = typer.Option(30.0, min=0.5, help="seconds between looks for new or changed watches"),
           metrics_port: Optional[int] = typer.Option(None, help="serve Prometheus /metrics on this port"),
           metrics_host: str = typer.Option("127.0.0.1", help="address for /metrics"),
           allow_unsandboxed: AllowUnsandboxed = False,
           db: Db = None) -> None:
    """Tick watches as they fall due, for ever; SIGTERM or Ctrl-C stops it (a tick in progress is recorded as
    interrupted). The schedule lives in the store, so a restarted daemon carries on where it was."""
    import signal
    import threading

    from ..api.watching import watch_daemon
    from ..report.monitor import tick_outcome
    from ..runner import RunInterrupted

    ticker = watch_daemon(metrics_port=metrics_port, metrics_host=metrics_host, db=db)
    stop = threading.Event()

    def on_tick(outcome) -> None:
        err.print(tick_outcome(outcome.tick.watch, outcome))

    def terminate(_signum, _frame) -> None:
        if stop.is_set():
            return
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    err.print(literal(f"watching {ticker.store.safe_url}: Ctrl-C or SIGTERM stops"))
    try:
        ticker.run(stop, poll_s=poll, allow_unsandboxed=allow_unsandboxed, on_tick=on_tick, on_fault=_fault)
    except (KeyboardInterrupt, RunInterrupted):
        pass
    err.print(literal("stopped"))


def alerts(open_only: bool = typer.Option(False, "--open", help="only alerts that are open"),
           watch: Optional[str] = typer.Option(None, help="only this watch's alerts"),
           limit: int = typer.Option(100, min=1, help="most recent alerts to show"),
           db: Db = None,
           as_json: Json = False) -> None:
    """Alerts of watches: open while a gate keeps failing, resolved when it passes; fingerprint notices."""
    from ..api.watching import alert_records
    from ..report.monitor import alerts_table

    records = alert_records(open_only=open_only, watch=watch, limit=limit, db=db)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    out.print(alerts_table(records))
