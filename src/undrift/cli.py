"""The command line: the app, its version option and the entry point.  Each command lives in `commands/`, parses its
options, makes one call into the public API (`import undrift`) and renders the result with `report/`."""

from __future__ import annotations

import sys
from typing import Optional

import typer
from rich.text import Text

from . import __version__
from .commands.card import card
from .commands.check import check
from .commands.common import DB_HELP, OUTSIDE_HELP, err, out, reflow_help
from .commands.compare import compare
from .commands.forgetting import forgetting
from .commands.gate import gate
from .commands.history import history
from .commands.importing import import_
from .commands.proxy import proxy
from .commands.registry import registry_app
from .commands.replay import export_suite, replay
from .commands.review import review_app
from .commands.run import run, runs, show
from .commands.serve import serve
from .commands.traffic import traffic_app
from .commands.train import train
from .commands.watch import alerts, watch_app
from .errors import UndriftError
from .report.text import clean, literal

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)


def _print_version(value: bool) -> None:
    if value:
        print(f"undrift {__version__}")
        raise typer.Exit()


@app.callback()
def _app(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="print the version and exit"),
) -> None:
    """Keep an LLM's behaviour steady across time and updates."""


for command in (run, runs, show, compare, history, check, gate):
    app.command()(command)
app.command("import")(import_)
app.command()(train)


@app.command()
def suites(path: Optional[str] = typer.Argument(None, help="a suite file to check and describe"),
           allow_outside: bool = typer.Option(False, "--allow-outside", help=OUTSIDE_HELP)) -> None:
    """List the suites that load by name (built-ins and plugins), or check a suite file and describe it."""
    from .report.plugins import suite_table, suites_listing
    from .suites import installed_suites, load_suite

    out.print(suite_table(load_suite(path, allow_outside=allow_outside)) if path else suites_listing(installed_suites()))


@app.command()
def models(db: Optional[str] = typer.Option(None, help=DB_HELP)) -> None:
    """The model backends (built-ins and plugins), the bundled model's state, and the models the store has runs for."""
    from pathlib import Path

    from rich.table import Table

    from .models import installed_backends
    from .models.gguf_cache import bundled_gguf
    from .report.plugins import backends_table
    from .store import Store, resolve_url

    out.print(backends_table(installed_backends()))
    try:
        out.print(literal(f"bundled model file: {bundled_gguf()}"))
    except UndriftError as problem:
        out.print(Text("bundled model: ").append(clean(problem), style="red"))
    url = resolve_url(db)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return
    seen: dict[str, str] = {}
    for record in Store.open(db).list_runs(limit=10_000):
        seen.setdefault(record.name, record.model_spec)
    if seen:
        names = Table(title="models with runs in the store", title_justify="left", header_style="bold")
        names.add_column("name")
        names.add_column("spec")
        for name_, spec in seen.items():
            names.add_row(literal(name_), literal(spec))
        out.print(names)


for command in (serve, forgetting, card):
    app.command()(command)
app.add_typer(review_app, name="review")
app.add_typer(registry_app, name="registry")
app.add_typer(watch_app, name="watch")
app.command()(alerts)
app.command()(proxy)
traffic_app.command("export-suite")(export_suite)
app.add_typer(traffic_app, name="traffic")
app.command()(replay)
reflow_help(app)


def main() -> None:
    """Entry point: usage errors and --help are Typer's; an `UndriftError` is one line on stderr and exit 2."""
    try:
        app()
    except UndriftError as problem:
        err.print(Text("error: ", style="red").append(clean(problem)))
        sys.exit(2)


if __name__ == "__main__":
    main()
