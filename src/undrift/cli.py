"""The command line: the app, its version option and the entry point.  Each command lives in `commands/`, parses its
options, makes one call into the public API (`import undrift`) and renders the result with `report/`."""

from __future__ import annotations

import sys
import typer
from rich.text import Text

from . import __version__
from .commands.card import card
from .commands.catalog import models, suites
from .commands.check import check
from .commands.common import err, reflow_help
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
from .commands.ui import ui
from .commands.watch import alerts, watch_app
from .errors import UndriftError
from .report.text import clean

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
for command in (suites, models, serve, forgetting, card):
    app.command()(command)
app.add_typer(review_app, name="review")
app.add_typer(registry_app, name="registry")
app.add_typer(watch_app, name="watch")
app.command()(alerts)
app.command()(proxy)
traffic_app.command("export-suite")(export_suite)
app.add_typer(traffic_app, name="traffic")
app.command()(replay)
app.command()(ui)
reflow_help(app)


def main() -> None:
    """Entry point: usage errors and --help are Typer's; an `UndriftError` is one line on stderr and its exit code
    (2; a failed run 4, an interrupted one 130, where the command does not word them itself)."""
    try:
        app()
    except UndriftError as problem:
        err.print(Text("error: ", style="red").append(clean(problem)))
        sys.exit(problem.exit_code)


if __name__ == "__main__":
    main()
