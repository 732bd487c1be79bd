"""Outside text for the terminal: what models, suites and users wrote, printed as written and never obeyed.

Everything that comes from a model, a suite or a user (answers, prompts, names, specs, error messages) goes into a
Rich `Text` through `literal`, never into Rich markup: `[Yes]`, `[refund]` or a list literal in code prints as
written, and control characters (a model can emit terminal escape sequences) are shown as `\\x1b`, not obeyed.
Kept apart from terminal.py so that the command line can use it without importing the analysis.
"""

from __future__ import annotations

import re

from rich.text import Text

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: object) -> str:
    """The text with every control character but newline and tab written out as an escape (\\x1b), not obeyed."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def literal(text: object, style: str | None = None) -> Text:
    """Outside text as it is: no markup, no emoji codes, control characters made visible."""
    return Text(clean(text), style=style or "")
