"""`undrift traffic`: drift of the live outputs the proxy recorded.  A group, so that subcommands (export-suite) can
join it; with no subcommand it prints the report."""

from __future__ import annotations

from typing import Optional

import typer

from .common import Db, Json, out, print_json

traffic_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@traffic_app.callback(invoke_without_command=True)
def traffic(
    ctx: typer.Context,
    since: Optional[str] = typer.Option(None, help="start of the range: an age (7d, 12h) or an ISO date/time "
                                                   "(2025-03-01, UTC unless an offset is given); default: all"),
    until: Optional[str] = typer.Option(None, help="end of the range (exclusive), as --since; default: now"),
    tag: Optional[str] = typer.Option(None, help="only requests the callers tagged so (X-Undrift-Tag)"),
    model: Optional[str] = typer.Option(None, help="only requests that asked for this model (the request's "
                                                   "\"model\")"),
    window: str = typer.Option("1d", help="width of a window, aligned to UTC: 30m, 1h, 6h, 1d, 7d (weeks from "
                                          "Monday)"),
    reference: str = typer.Option("first", help="the window the current (latest) one is compared with: first, "
                                                "previous, or a moment as --since takes (the window holding it)"),
    meaning: bool = typer.Option(True, "--meaning/--no-meaning",
                                 help="test the drift of the responses' meaning with embeddings (needs the "
                                      "embeddings extra; takes seconds)"),
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Drift of live outputs: per window, length, refusals, JSON validity, errors, latency, tokens and served
    models; between the reference and the current window, two-sample tests (Holm-adjusted) and drift of meaning.

    Exit status, like `check` and `gate`: 0 no drift found (or nothing to compare yet),
    1 drift (a test significant after the Holm adjustment, or a served model or fingerprint
    change between the reference and the current window), 2 bad input.
    """
    if ctx.invoked_subcommand is not None:
        return
    from ..api.traffic import TrafficQuery, analyse_traffic
    from ..report.traffic import traffic_report

    query = TrafficQuery.parse(since=since, until=until, tag=tag, model=model, window=window, reference=reference,
                               meaning=meaning)
    report = analyse_traffic(query, db=db)
    if as_json:
        print_json(report.to_dict())
    else:
        out.print(traffic_report(report))
    if report.drifted:
        raise typer.Exit(1)
