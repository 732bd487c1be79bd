"""Verifiable instructions: constraints a program can check without judgement (in the manner of IFEval).

A sample lists its instructions in `data.instructions`, each `{type: NAME, ...arguments}`.  The score is the share of
instructions followed; `correct` means all were.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from ..suites.schema import Sample
from .base import Score
from .formats import parse_json_response
from .refusal import is_refusal


def _words(text: str) -> list[str]:
    return re.findall(r"\b\w+\b", text)


def _bullets(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"^\s*[-*•]\s+\S", line)]


CHECKS: dict[str, Callable[..., bool]] = {
    "answer_in_brackets": lambda text: bool(re.search(r"\[[^\[\]\n]{1,80}\]", text)),
    "no_apology": lambda text: not re.search(r"\b(sorry|apologi[sz]e|apologies)\b", text, re.IGNORECASE),
    "no_refusal": lambda text: not is_refusal(text),
    "lowercase": lambda text: text == text.lower() and any(c.isalpha() for c in text),
    "uppercase": lambda text: text == text.upper() and any(c.isalpha() for c in text),
    "max_words": lambda text, n: len(_words(text)) <= int(n),
    "min_words": lambda text, n: len(_words(text)) >= int(n),
    "bullet_points": lambda text, n: len(_bullets(text)) == int(n),
    "include_keywords": lambda text, keywords: all(k.lower() in text.lower() for k in keywords),
    "exclude_words": lambda text, words: not any(re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE) for w in words),
    "json_format": lambda text: parse_json_response(text)[1] is None,
    "starts_with": lambda text, prefix: text.strip().lower().startswith(prefix.lower()),
    "ends_with": lambda text, suffix: text.strip().lower().endswith(suffix.lower()),
    "no_commas": lambda text: "," not in text,
}


def check(text: str, instruction: dict[str, Any]) -> bool:
    arguments = {k: v for k, v in instruction.items() if k != "type"}
    return bool(CHECKS[instruction["type"]](text, **arguments))


class InstructionsScorer:
    def __init__(self, instructions: list[dict[str, Any]] | None = None):
        self.shared = list(instructions or [])
        for instruction in self.shared:
            _validate(instruction)

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        instructions = self.shared + list(sample.data.get("instructions", []))
        results = {}
        for instruction in instructions:
            _validate(instruction)
            results[instruction["type"]] = check(response, instruction)
        followed = sum(results.values())
        share = followed / len(results) if results else 0.0
        return Score(share, bool(results) and followed == len(results), None, {"followed": results})


def _validate(instruction: dict[str, Any]) -> None:
    if not isinstance(instruction, dict) or instruction.get("type") not in CHECKS:
        kind = instruction.get("type") if isinstance(instruction, dict) else instruction
        raise ValueError(f"unknown instruction {kind!r}; use {', '.join(sorted(CHECKS))}")
