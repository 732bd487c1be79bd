"""`undrift proxy`: an OpenAI-compatible recording reverse proxy in front of any model server."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..report.text import literal
from .common import DB_HELP, err

RecordingDb = Annotated[Optional[str], typer.Option("--db", help=DB_HELP + "; traffic is recorded there")]


def proxy(
    upstream: str = typer.Option(..., help="base URL your clients use now, e.g. https://api.openai.com/v1; they "
                                           "use http://HOST:PORT/v1 instead"),
    host: str = typer.Option("127.0.0.1", help="address to listen on; beyond localhost --token is required"),
    port: int = typer.Option(8080, help="port to listen on (0: any free one, printed at start-up)"),
    sample: float = typer.Option(1.0, min=0.0, max=1.0, help="share of requests recorded, 0-1 (1: every one; 0.1 for a "
                                                             "busy service)"),
    redact: list[str] = typer.Option([], "--redact", help="regular expression masked in everything recorded "
                                                          "(repeatable; API keys and e-mail addresses always are)"),
    token: Optional[str] = typer.Option(None, envvar="UNDRIFT_PROXY_TOKEN",
                                        help="token callers must send as `Proxy-Authorization: Bearer TOKEN` (or "
                                             "X-Undrift-Token); $UNDRIFT_PROXY_TOKEN keeps it off the command line"),
    max_body: str = typer.Option("4MB", help="largest request body forwarded, e.g. 4MB, 512KB, 1000000 (413 beyond)"),
    timeout: float = typer.Option(300.0, min=0.1, help="seconds the upstream may stay silent; then 504"),
    db: RecordingDb = None,
) -> None:
    """Forward every request to --upstream unchanged and record a sample of the traffic into the store."""
    from ..api.traffic import ProxyOptions, listen_proxy
    from ..proxy import parse_size

    options = ProxyOptions(upstream=upstream, sample=sample, redact=tuple(redact), token=token,
                           max_body_bytes=parse_size(max_body), timeout_s=timeout)
    listening = listen_proxy(options, host, port, db=db)
    bound = listening.port  # the one given, or with --port 0 the free one the system chose
    err.print(literal(f"proxying http://{host}:{bound}/v1 to {upstream}, recording {sample:.0%} of requests; "
                      f"metrics at http://{host}:{bound}/metrics; Ctrl-C stops"))
    listening.run()
