"""What every command shares: the consoles and the help of the options that many commands take."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

import typer
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


RUN_FAILED_EXIT = 4


def print_json(value: Any) -> None:
    """What `--json` prints: indented JSON, times in ISO 8601 (`2026-11-24T19:00:00+00:00`), anything else that JSON
    has no type for (paths, ids) as its text."""
    print(json.dumps(value, indent=2, default=_as_json))


def _as_json(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


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
