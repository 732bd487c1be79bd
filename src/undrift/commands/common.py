"""What every command shares: the consoles and the help of the options that many commands take."""

from __future__ import annotations

import sys

from rich.console import Console

# No Rich markup, emoji codes or highlighting: what models, suites and users wrote prints as written ([Yes] stays
# [Yes]); colour comes only from the Text objects report/terminal.py builds, and control characters are escaped there.
out = Console(width=None if sys.stdout.isatty() else 120, markup=False, emoji=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)

DB_HELP = "SQLAlchemy URL of the store (default: $UNDRIFT_DB, else sqlite:///undrift.db)"
JSON_HELP = "print the result as JSON on stdout"
OUTSIDE_HELP = "let a suite file read samples files outside its own folder (only for suite files you trust)"
