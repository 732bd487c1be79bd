"""Drift of meaning: did what the model says move, beyond length and refusals?  The answers of the reference and
the current window are embedded (embed.py) and compared with the MMD permutation test (mmd.py); the responses with
the most extreme witness values are shown as the evidence.

At most `cap` answers per window are embedded (a seeded sample, said in the report), which bounds the time: the
encoding, not the test, is the cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..jsonable import jsonable
from ..store.traffic import TrafficRecord
from .embed import INSTALL_HINT, embed, model_dir
from .mmd import mmd_test

EXCERPT = 400  # characters of a response kept in the report


@dataclass(frozen=True)
class Example:
    """A recorded response that shows the shift, with its witness value (positive: typical of the reference)."""

    record_id: int | None
    at: Any  # datetime
    text: str  # the first EXCERPT characters
    witness: float

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"record_id": self.record_id, "at": self.at, "text": self.text, "witness": self.witness})


@dataclass(frozen=True)
class MeaningDrift:
    available: bool
    note: str | None = None  # why it was not measured, or how it was sampled
    reference_answers: int = 0
    reference_embedded: int = 0
    current_answers: int = 0
    current_embedded: int = 0
    mmd2: float | None = None
    bandwidth: float | None = None
    p_value: float | None = None
    permutations: int = 0
    seed: int = 0
    reference_examples: list[Example] = field(default_factory=list)  # what the current window no longer says
    current_examples: list[Example] = field(default_factory=list)  # what the current window says instead

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["reference_examples"] = [e.to_dict() for e in self.reference_examples]
        data["current_examples"] = [e.to_dict() for e in self.current_examples]
        return jsonable(data)


def meaning_drift(reference: list[TrafficRecord], current: list[TrafficRecord], cap: int = 500,
                  permutations: int = 1000, seed: int = 0, examples: int = 3) -> MeaningDrift:
    """Compare the answers (records with text) of two windows; `available` is False, with a note, where the
    embeddings extra is not installed or a window has fewer than two answers."""
    folder = model_dir()
    if folder is None:
        return MeaningDrift(False, f"drift of meaning not measured: the embeddings model is not installed "
                                   f"({INSTALL_HINT})")
    if len(reference) < 2 or len(current) < 2:
        return MeaningDrift(False, "drift of meaning not measured: it needs at least two answers in each window",
                            len(reference), 0, len(current), 0)
    rng = np.random.default_rng(seed)
    chosen_reference, chosen_current = _subsample(reference, cap, rng), _subsample(current, cap, rng)
    vectors = embed([r.response_text for r in chosen_reference + chosen_current], folder)
    result = mmd_test(vectors[:len(chosen_reference)], vectors[len(chosen_reference):], permutations, seed)
    sampled = len(chosen_reference) < len(reference) or len(chosen_current) < len(current)
    note = f"at most {cap} answers per window embedded, a seeded sample (seed {seed})" if sampled else None
    return MeaningDrift(
        True, note, len(reference), len(chosen_reference), len(current), len(chosen_current),
        result.mmd2, result.bandwidth, result.p_value, permutations, seed,
        _extremes(chosen_reference, result.witness_reference, examples, highest=True),
        _extremes(chosen_current, result.witness_current, examples, highest=False),
    )


def _subsample(records: list[TrafficRecord], cap: int, rng: np.random.Generator) -> list[TrafficRecord]:
    if len(records) <= cap:
        return list(records)
    return [records[i] for i in sorted(rng.choice(len(records), cap, replace=False))]


def _extremes(records: list[TrafficRecord], witness: np.ndarray, count: int, highest: bool) -> list[Example]:
    order = np.argsort(-witness if highest else witness, kind="stable")[:count]
    return [Example(records[i].id, records[i].at, records[i].response_text[:EXCERPT], float(witness[i]))
            for i in order]
