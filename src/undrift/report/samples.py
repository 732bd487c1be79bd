"""A run's responses printed one by one (`undrift show --samples N`): the prompt, the answer, what was extracted and
the target, all escaped (model text is untrusted)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from .text import clean, literal

if TYPE_CHECKING:
    from ..store.rows import ResultRow


def print_samples(console: Console, rows: list[ResultRow]) -> None:
    for row in rows:
        verdict = {True: "right", False: "wrong", None: "·"}[row.correct]
        console.rule(literal(f"{row.task} / {row.sample_id} (repeat {row.repeat}) {verdict}"))
        console.print(Text("prompt: ", style="dim").append(clean(row.messages[-1]["content"])))
        console.print(Text("answer: ", style="dim").append(clean(row.response)))
        console.print(Text("extracted: ", style="dim").append(clean(row.extracted)).append("  target: ", style="dim")
                      .append(clean(row.target)))
