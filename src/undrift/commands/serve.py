"""`undrift serve`: a local model as an OpenAI-compatible endpoint, registered as a served version."""

from __future__ import annotations

from typing import Optional

import typer

from ..report.text import literal
from .common import DB_HELP, err


def serve(
    spec: str = typer.Argument(..., help="model spec of a local model, e.g. bundled:smollm2"),
    host: str = typer.Option("127.0.0.1", help="address to listen on; beyond localhost --token is required"),
    port: int = typer.Option(8000, help="port to listen on"),
    name: Optional[str] = typer.Option(None, help="model id the server reports (default: a plain id such as "
                                                  "smollm2 or the model folder's name; the spec is accepted too)"),
    token: Optional[str] = typer.Option(None, envvar="UNDRIFT_SERVE_TOKEN",
                                        help="bearer token clients must send (as OPENAI_API_KEY); "
                                             "$UNDRIFT_SERVE_TOKEN keeps it off the command line"),
    timeout: float = typer.Option(300.0, min=0.1, help="seconds one request may generate; then it ends with "
                                                       "finish_reason \"length\" and the text so far"),
    max_prompt_tokens: Optional[int] = typer.Option(None, min=1, help="longest prompt accepted (400 beyond it; "
                                                                      "default: the model's context length)"),
    max_body_bytes: int = typer.Option(1_000_000, min=1, help="largest request body accepted (413 beyond it)"),
    db: Optional[str] = typer.Option(None, help=DB_HELP + "; the served version is registered there"),
) -> None:
    """Serve a local model as an OpenAI-compatible endpoint: chat and text completions, streaming, batched."""
    from ..serving import ServeOptions, prepare, run

    options = ServeOptions(token=token, timeout_s=timeout, max_prompt_tokens=max_prompt_tokens,
                           max_body_bytes=max_body_bytes)
    served = prepare(spec, host, name, db, options)
    err.print(literal(f"serving {served.display} as model {served.model_id!r} at http://{host}:{port}/v1 "
                      "(OpenAI-compatible); Ctrl-C stops"))
    run(served.app, host=host, port=port)
