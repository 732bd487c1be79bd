"""Two answers side by side with their differences marked, word by word (difflib on the server).

Model output is untrusted: each word is HTML-escaped first and only then wrapped in `<del>` (gone from the old
answer) or `<ins>` (new in the new one), so the markup that comes out holds no tag but those two.  Templates print
the result as it is (a `Markup`), never model text through `|safe`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from html import escape

from markupsafe import Markup

_WORDS = re.compile(r"\S+|\s+")
MAX_WORDS = 2000  # past this, two answers are marked as wholly different rather than diffed (difflib is quadratic)


@dataclass(frozen=True)
class WordDiff:
    old: Markup
    new: Markup
    changed_words: int  # words removed plus words added


def word_diff(old: str, new: str) -> WordDiff:
    """`old` and `new` escaped, with the words only one of them has marked."""
    a, b = _WORDS.findall(old or ""), _WORDS.findall(new or "")
    if len(a) + len(b) > 2 * MAX_WORDS:
        return WordDiff(Markup(_wrap("del", a)), Markup(_wrap("ins", b)), _count(a) + _count(b))
    old_parts, new_parts, changed = [], [], 0
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            same = escape("".join(a[i1:i2]))
            old_parts.append(same)
            new_parts.append(same)
            continue
        old_parts.append(_wrap("del", a[i1:i2]))
        new_parts.append(_wrap("ins", b[j1:j2]))
        changed += _count(a[i1:i2]) + _count(b[j1:j2])
    return WordDiff(Markup("".join(old_parts)), Markup("".join(new_parts)), changed)


def _wrap(tag: str, words: list[str]) -> str:
    """The words escaped inside one `tag` element; the whitespace at either end stays outside it."""
    text = "".join(words)
    core = text.strip()
    if not core:
        return escape(text)
    start = text.index(core)
    return f"{escape(text[:start])}<{tag}>{escape(core)}</{tag}>{escape(text[start + len(core):])}"


def _count(words: list[str]) -> int:
    return sum(1 for w in words if not w.isspace())
