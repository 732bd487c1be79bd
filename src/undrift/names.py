"""The one rule for the names a user gives to things kept in the store and shown on pages (watches, aliases):
letters, digits, '-', '_' and '.', at most 255 of them.  Such a name is safe in a URL, a file name, a shell line and
a table cell, and cannot hide a path, a tab or a tag."""

from __future__ import annotations

from .errors import UndriftError

NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
MAX_NAME = 255


def check_name(name: str, kind: str) -> None:
    """Refuse a `kind` name ("watch", "alias") that breaks the rule, in one line that says the rule."""
    rule = f"use letters, digits, '-', '_' and '.' (at most {MAX_NAME} characters)"
    if not name.strip():
        raise UndriftError(f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} needs a name: {rule}")
    if len(name) > MAX_NAME or not set(name) <= NAME_CHARS:
        shown = name if len(name) <= 60 else name[:60] + "…"
        raise UndriftError(f"bad {kind} name {shown!r}: {rule}")
