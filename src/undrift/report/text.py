"""Outside text for the terminal: what models, suites and users wrote, printed as written and never obeyed.

Everything that comes from a model, a suite or a user (answers, prompts, names, specs, error messages) goes into a
Rich `Text` through `literal`, never into Rich markup: `[Yes]`, `[refund]` or a list literal in code prints as
written, and control characters (a model can emit terminal escape sequences) are shown as `\\x1b`, not obeyed;
so are the bidirectional overrides that make text display in another order than it reads (`\\u202e`).
Kept apart from terminal.py so that the command line can use it without importing the analysis.
"""

from __future__ import annotations

import re

from rich.text import Text

# C0 and C1 controls, bidirectional marks, embeddings, overrides and isolates, and invisible characters that make
# two different strings print alike (the zero-width space, the word joiner and invisible operators, the byte-order
# mark).  The zero-width (non-)joiners stay: Persian, Indic scripts and emoji sequences need them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def clean(text: object) -> str:
    """The text with every control character but newline and tab, and every bidirectional override, written out
    as an escape (\\x1b, \\u202e), not obeyed."""
    return _CONTROL.sub(lambda m: _escape(ord(m.group())), str(text))


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def literal(text: object, style: str | None = None) -> Text:
    """Outside text as it is: no markup, no emoji codes, control characters made visible."""
    return Text(clean(text), style=style or "")
