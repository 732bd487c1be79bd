"""`undrift ui`: the web dashboard over the store (docs/ui.md)."""

from __future__ import annotations

from typing import Optional

import typer

from ..report.text import literal
from .common import Db, err


def ui(
    host: str = typer.Option("127.0.0.1", help="address to listen on; beyond localhost --token is required"),
    port: int = typer.Option(8800, help="port to listen on (0: any free one, printed at start-up)"),
    token: Optional[str] = typer.Option(None, envvar="UNDRIFT_UI_TOKEN",
                                        help="token every visitor must give (once, as ?token=); without it one is made "
                                             "and only write actions need it; $UNDRIFT_UI_TOKEN keeps it off the "
                                             "command line"),
    db: Db = None,
) -> None:
    """Serve the web dashboard: overview of models, aliases, watches and alerts; history of a model over time."""
    from ..web.launch import listen_ui

    dashboard = listen_ui(host, port, db=db, token=token)
    err.print(literal(f"dashboard at {dashboard.url}; Ctrl-C stops"))
    dashboard.run()
