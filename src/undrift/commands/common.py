"""What every command shares: the consoles and the help of the options that many commands take."""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.models import DefaultPlaceholder
from rich.console import Console
from rich.text import Text

from ..report.text import clean, literal

# No Rich markup, emoji codes or highlighting: what models, suites and users wrote prints as written ([Yes] stays
# [Yes]); colour comes only from the Text objects report/terminal.py builds, and control characters are escaped there.
out = Console(width=None if sys.stdout.isatty() else 120, markup=False, emoji=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)

DB_HELP = "SQLAlchemy URL of the store (default: $UNDRIFT_DB, else sqlite:///undrift.db)"
JSON_HELP = "print the result as JSON on stdout"
OUTSIDE_HELP = "let a suite file read samples files outside its own folder (only for suite files you trust)"


UNSANDBOXED_HELP = "run model code (code tasks) even where no sandbox can start"

# The options many commands share, defined once (`db: Db = None` in a command's signature).
Db = Annotated[Optional[str], typer.Option("--db", help=DB_HELP)]
Json = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")]
AllowOutside = Annotated[bool, typer.Option("--allow-outside", help=OUTSIDE_HELP)]
AllowUnsandboxed = Annotated[bool, typer.Option("--allow-unsandboxed", help=UNSANDBOXED_HELP)]

RUN_FAILED_EXIT = 4
DECISION_EXIT = {"unchanged": 0, "changed": 1, "undecided": 3}  # `check` and `history`: the exit status is the answer


def print_json(value: Any) -> None:
    """Print a result's `.to_dict()` (or a list of them) as indented JSON: every command's `--json` goes through
    here.  `.to_dict()` already holds only JSON's types (`undrift.jsonable`), so this only dumps it."""
    print(json.dumps(value, indent=2))


def writable(target: Optional[Path]) -> None:
    """Refuse an output file whose folder does not exist before any work is done."""
    from ..errors import UndriftError

    if target is not None and not target.parent.exists():
        raise UndriftError(f"cannot write {str(target)!r}: folder {str(target.parent)!r} does not exist")


def interruptible(work):
    """Run `work` (a run or a check) with SIGTERM treated as Ctrl-C; an interrupted run exits 130, a failed one 4."""
    import signal

    from ..runner import RunFailed, RunInterrupted

    previous = signal.signal(signal.SIGTERM, terminate_as_interrupt)
    try:
        return work()
    except RunInterrupted as stop:
        err.print(literal(f"interrupted: run {stop.run_id} keeps what finished; continue with "
                          f"`undrift run --resume {stop.run_id}`"))
        raise typer.Exit(130)
    except RunFailed as failed:
        err.print(Text("error: ", style="red").append(clean(failed)))
        raise typer.Exit(RUN_FAILED_EXIT)
    finally:
        signal.signal(signal.SIGTERM, previous)


def terminate_as_interrupt(_signum, _frame) -> None:
    """A SIGTERM handler: stop as Ctrl-C would (a CronJob's deadline, systemd stopping the job)."""
    raise KeyboardInterrupt


def reflow_help(app: typer.Typer) -> None:
    """Give every command of `app` its docstring with each paragraph on one line.  Typer keeps the line breaks of
    the paragraphs after a docstring's first, so text written at 120 columns breaks raggedly in a narrower
    terminal; one line per paragraph lets Rich wrap it to the terminal.  Lines that start a list item stay apart."""
    commands = list(app.registered_commands)
    if app.registered_callback is not None:
        commands.append(app.registered_callback)
    for info in commands:
        unset = info.help is None or isinstance(info.help, DefaultPlaceholder)  # a group's callback: a placeholder
        if unset and info.callback is not None and info.callback.__doc__:
            info.help = _one_line_paragraphs(inspect.getdoc(info.callback) or "")
    for group in app.registered_groups:
        reflow_help(group.typer_instance)


def _one_line_paragraphs(text: str) -> str:
    paragraphs = []
    for paragraph in text.split("\n\n"):
        lines: list[str] = []
        for line in paragraph.splitlines():
            if lines and not line.lstrip().startswith(("- ", "* ")):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line.strip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)
