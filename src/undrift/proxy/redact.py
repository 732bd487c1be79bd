"""Masking of secrets and personal data before a record leaves the request: built-in patterns for well-known API key
formats, bearer tokens and e-mail addresses, plus the user's `--redact` patterns.

Headers are never recorded, so the caller's credentials cannot reach the store that way; these patterns catch what
callers paste into prompts and what models echo back.  Every pattern runs in linear time on long text (each is
anchored by a fixed prefix or a lookbehind), so a megabyte of prompt cannot stall the proxy.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import UndriftError, option

MASK = "[REDACTED]"
BUILT_IN = {
    "OpenAI-style API key (sk-...)": r"\bsk-[A-Za-z0-9_-]{20,}",
    "bearer token": r"\b[Bb]earer\s+[A-Za-z0-9._~+/=-]{8,}",
    "AWS access key id": r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
    "GitHub token": r"\bgh[pousr]_[A-Za-z0-9]{36,}",
    "Google API key": r"\bAIza[0-9A-Za-z_-]{35}",
    "Slack token": r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    "JSON web token": r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    "e-mail address": r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+",
}


class Redactor:
    """The built-in patterns (one alternation) and the user's, each compiled once; `text` and `json` mask."""

    def __init__(self, extra: tuple[str, ...] = ()) -> None:
        self.patterns = [re.compile("|".join(f"(?:{p})" for p in BUILT_IN.values()))]
        self.patterns += [_compile(pattern) for pattern in extra]

    def text(self, value: str) -> str:
        for pattern in self.patterns:
            value = pattern.sub(MASK, value)
        return value

    def json(self, value: Any) -> Any:
        """Every string inside a JSON value masked, keys included."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, dict):
            return {self.text(key): self.json(item) for key, item in value.items()}
        return value


def _compile(pattern: str) -> re.Pattern:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise UndriftError(f"{option('redact')} {pattern!r} is not a valid regular expression ({exc}): fix it, or "
                           "quote it so the shell leaves it alone") from None
    if compiled.fullmatch("") is not None:
        raise UndriftError(f"{option('redact')} {pattern!r} matches empty text, so it would mask between every "
                           "character: make it match at least one character")
    return compiled
