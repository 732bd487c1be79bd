"""Label and multiple-choice extraction, including the LLMDrift study's own rules (the `llmdrift` profile)."""

from __future__ import annotations

import re

from ..suites.schema import Sample
from .base import Score, targets


def llmdrift_yes_no(text: str) -> str:
    """The study's prime rule: ',' and '.' to spaces, lower-case, words bracketed; [yes] wins, then [no]."""
    words = text.replace(",", " ").replace(".", " ").lower().split()
    bracketed = "".join(f"[{w}]" for w in words)
    if "[yes]" in bracketed:
        return "yes"
    if "[no]" in bracketed:
        return "no"
    return "undetermined"


def llmdrift_boxed(text: str) -> str:
    """The study's happy-number rule: lower-case, drop '.', the first `boxed{D}`, else undetermined."""
    match = re.search(r"boxed\{[0-9]\}", text.lower().replace(".", ""))
    return match.group(0) if match else "undetermined"


def llmdrift_responded(text: str) -> bool:
    """The study's OpinionQA rule: no response if it picks "(X). Refused", a response if it names any "(X)"."""
    if re.search(r"\([A-Za-z]\)\. Refused", text):
        return False
    return re.search(r"\([A-Za-z]\)", text) is not None


class LabelScorer:
    """Finds which of a fixed set of labels the response gives.

    Order of evidence: a bracketed label (`[Yes]`, as prompts often ask), then the first label that occurs as a word.
    `profile: llmdrift` applies the LLMDrift study's yes/no rule instead.
    """

    def __init__(self, labels: list[str] | None = None, profile: str | None = None):
        if profile not in (None, "llmdrift"):
            raise ValueError(f"unknown profile {profile!r}; the only profile is llmdrift")
        if any(isinstance(label, bool) for label in labels or ()):
            raise ValueError("YAML reads unquoted Yes/No as true/false: quote the labels, e.g. labels: ['yes', 'no']")
        self.profile = profile
        self.labels = [str(label).lower() for label in (labels or ["yes", "no"])]

    def extract(self, text: str) -> str:
        if self.profile == "llmdrift":
            return llmdrift_yes_no(text)
        lowered = text.lower()
        for label in self.labels:
            if f"[{label}]" in lowered:
                return label
        positions = [(m.start(), label) for label in self.labels for m in [re.search(rf"\b{re.escape(label)}\b", lowered)] if m]
        return min(positions)[1] if positions else "undetermined"

    def target_label(self, target: str) -> str:
        """The label a target names: lower-cased, or read like a response under the profile."""
        return self.extract(target) if self.profile else target.lower()

    def sample_problem(self, sample: Sample) -> str | None:
        for target in targets(sample):
            if self.target_label(target) not in self.labels:
                return (f"has target {target!r}, which is not one of the task's labels ({', '.join(self.labels)}): "
                        "fix the target or add it to `labels`")
        return None

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        extracted = self.extract(response)
        wanted = [self.target_label(t) for t in targets(sample)]
        correct = extracted in wanted if wanted else None
        return Score(float(bool(correct)), correct, extracted, {"determined": extracted != "undetermined"})


class ChoiceScorer:
    """Multiple choice with lettered options `(A)`, `(B)`...: the first letter given is the answer.

    Survey-style tasks measure the response rate: a response counts as given unless it picks no option or picks an
    option whose text marks a refusal (`refused_options`, e.g. the OpinionQA "Refused" option).
    `profile: llmdrift` applies the study's own response rule instead (`llmdrift_responded`).
    """

    def __init__(self, refused_options: list[str] | None = None, profile: str | None = None):
        if profile not in (None, "llmdrift"):
            raise ValueError(f"unknown profile {profile!r}; the only profile is llmdrift")
        self.refused = {o.upper() for o in (refused_options or [])}
        self.profile = profile

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        if self.profile == "llmdrift":
            match = re.search(r"\(([A-Za-z])\)", response)
            letter = match.group(1).upper() if match else None
            responded = llmdrift_responded(response)
        else:
            match = re.search(r"\(([A-Za-z])\)", response) or re.search(r"^\s*([A-Z])[\).:](?:\s|$)", response)
            letter = match.group(1).upper() if match else None
            refused_letter = self.refused | {str(x).upper() for x in sample.data.get("refused_options", [])}
            responded = letter is not None and letter not in refused_letter
        wanted = [t.strip("() ").upper() for t in targets(sample)]
        correct = (letter in wanted) if wanted else None
        value = float(correct) if wanted else float(responded)
        return Score(value, correct, letter or "none", {"responded": responded})
