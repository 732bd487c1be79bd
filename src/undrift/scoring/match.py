"""Matching against a target: exact, normalised, numeric, regex, and the key facts of a free-text answer."""

from __future__ import annotations

import math
import re
import string

from ..suites.schema import Sample
from .base import Score, targets
from .extract import llmdrift_boxed

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def normalise(text: str) -> str:
    """Lower-case, drop punctuation and English articles, collapse whitespace (the SQuAD convention)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains_phrase(text: str, phrase: str) -> bool:
    """`phrase` occurs in `text` as whole words (both already normalised); an empty phrase never does."""
    return bool(phrase) and re.search(rf"\b{re.escape(phrase)}\b", text) is not None


class ExactScorer:
    """The whole response, stripped of surrounding whitespace, equals a target."""

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        answer = response.strip()
        correct = answer in [t.strip() for t in targets(sample)]
        return Score(float(correct), correct, answer)


class NormalizedScorer:
    """Equality after `normalise`; with `contains: true` the normalised target may appear anywhere."""

    def __init__(self, contains: bool = False):
        self.contains = contains

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        answer = normalise(response)
        wanted = [normalise(t) for t in targets(sample)]
        if self.contains:
            correct = any(contains_phrase(answer, w) for w in wanted)
        else:
            correct = answer in wanted
        return Score(float(correct), correct, answer)


def parse_number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


class NumericScorer:
    """A number from the response equals the target within `tolerance` (relative) .

    The number is the first group of `pattern` when given (e.g. `boxed\\{(\\d+)\\}`), else the last number written.
    `profile: llmdrift` applies the study's happy-number rule: the first `boxed{D}` (one digit), compared as text
    with the same extraction of the target.
    """

    def __init__(self, pattern: str | None = None, tolerance: float = 1e-6, profile: str | None = None):
        if profile not in (None, "llmdrift"):
            raise ValueError(f"unknown profile {profile!r}; the only profile is llmdrift")
        self.pattern = re.compile(pattern) if pattern else None
        self.tolerance = float(tolerance)
        self.profile = profile

    def extract(self, response: str) -> float | None:
        if self.pattern:
            match = self.pattern.search(response)
            return parse_number(match.group(1) if match and match.groups() else match.group(0)) if match else None
        numbers = _NUMBER.findall(response)
        return parse_number(numbers[-1]) if numbers else None

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        if self.profile == "llmdrift":
            extracted = llmdrift_boxed(response)
            correct = extracted in {llmdrift_boxed(t) for t in targets(sample)}
            return Score(float(correct), correct, extracted)
        value = self.extract(response)
        wanted = [parse_number(t) for t in targets(sample)]
        correct = value is not None and any(
            w is not None and math.isclose(value, w, rel_tol=self.tolerance, abs_tol=self.tolerance) for w in wanted
        )
        extracted = None if value is None else (str(int(value)) if value.is_integer() else str(value))
        return Score(float(correct), correct, extracted)


class RegexScorer:
    """The response matches `pattern` (searched, or matched whole with `full: true`).

    If the sample has a target and the pattern a group, the first group must also equal the target.
    """

    def __init__(self, pattern: str, full: bool = False, ignore_case: bool = True):
        self.regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        self.full = full

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        text = response.strip()
        match = self.regex.fullmatch(text) if self.full else self.regex.search(text)
        extracted = (match.group(1) if match.groups() else match.group(0)) if match else None
        wanted = targets(sample)
        if wanted and match and match.groups():
            correct = extracted is not None and extracted.strip().lower() in [w.lower() for w in wanted]
        else:
            correct = match is not None
        return Score(float(correct), correct, extracted)


Fact = tuple[str, ...]  # one key fact: its acceptable phrasings


def _facts(value: object) -> list[Fact] | None:
    """A sample's `facts` or `forbidden` as alternatives per fact; None when it is not a list of phrases (a phrase is
    a string or number that keeps some words after `normalise`) or of lists of alternative phrases."""
    if not isinstance(value, list):
        return None
    facts = []
    for item in value:
        phrases = item if isinstance(item, list) else [item]
        if not phrases or not all(isinstance(p, (str, int, float)) and not isinstance(p, bool) and normalise(str(p))
                                  for p in phrases):
            return None
        facts.append(tuple(str(p) for p in phrases))
    return facts


def _stated(answer: str, fact: Fact) -> bool:
    return any(contains_phrase(answer, normalise(phrase)) for phrase in fact)


def _shown(facts: list[Fact]) -> str:
    return ", ".join(" / ".join(fact) for fact in facts)


class KeyFactsScorer:
    """Every key fact appears in the response and no forbidden one does: a verdict for free-text answers.

    The sample's `facts` list what a right answer must state (each a phrase or a list of alternative phrases); without
    `facts` its target is the one fact, a target list giving alternatives.  `forbidden` lists wrong facts that fail the
    answer outright (the wrong deadline, the wrong name).  Phrases match as whole words after `normalise`.  Unlike a
    similarity, an answer cannot pass by sharing most of the reference's words around a wrong number.
    """

    def sample_problem(self, sample: Sample) -> str | None:
        if not sample.data.get("facts") and not targets(sample):
            return "has neither `facts` nor `target`: list the facts a right answer must state"
        for key in ("facts", "forbidden"):
            if key in sample.data and _facts(sample.data[key]) is None:
                return f"has a bad `{key}`: write a list whose items are phrases or lists of alternative phrases"
        return None

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        answer = normalise(response)
        facts = _facts(sample.data.get("facts")) or [tuple(targets(sample))]
        missing = [fact for fact in facts if not _stated(answer, fact)]
        forbidden = [fact for fact in _facts(sample.data.get("forbidden", [])) or [] if _stated(answer, fact)]
        why = [f"{label}: {_shown(group)}" for label, group in (("missing", missing), ("forbidden", forbidden)) if group]
        present = len(facts) - len(missing)
        details = {"facts": len(facts), "present": present, "missing": [_shown([f]) for f in missing],
                   "forbidden": [_shown([f]) for f in forbidden]}
        value = 0.0 if forbidden else present / len(facts)
        return Score(value, not missing and not forbidden, "; ".join(why) or "all facts present", details)
