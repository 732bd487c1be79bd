"""Review in the store: a queue of answers to label (flips first), labels kept beside the runs, and the labels as
training data.  The file round trip (review.py: export, label offline, import) and this share one selection of
answers with their flips (`select_for_review`) and one rule of what a label teaches (`reviewed_row`), so a label
given on the dashboard and the same label written in a spreadsheet make the same training example.

A label is for a sample of a run (its first repeat's answer is the one shown); an answer that is an error has
nothing to label and is left out of the queue.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import UndriftError
from .files import write_text_atomic
from .jsonable import jsonable
from .review import ONLY, TrainingData, reviewed_row, select_for_review, training_data
from .store import Store
from .store.labels import Label, add_label, labelled_answers, latest_labels

LABELS = ("correct", "incorrect", "unsafe")
FLIP_ORDER = {"negative": 0, "positive": 1, "": 2}  # was right, now wrong first: the regressions to explain


@dataclass(frozen=True)
class ReviewItem:
    """One answer in the queue: what was asked and answered, the target, the scorer's verdict, its flip against
    the comparison run ('', negative or positive) and its current label (None: not labelled yet)."""

    run: str
    task: str
    sample_id: str
    prompt: str
    response: str
    target: Any
    correct: bool | None
    flip: str
    label: Label | None
    messages: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


@dataclass(frozen=True)
class ReviewQueue:
    """The answers of `runs` to review, flips against `against` first; `total` counts them before `limit`."""

    runs: list[str]
    against: str | None
    items: list[ReviewItem]
    total: int

    @property
    def flips(self) -> int:
        return sum(bool(item.flip) for item in self.items)

    @property
    def labelled(self) -> int:
        return sum(item.label is not None for item in self.items)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({**asdict(self), "flips": self.flips, "labelled": self.labelled})


def review_queue(store: Store, run_refs: list[str], against: str | None = None, only: str = "all",
                 limit: int | None = None) -> ReviewQueue:
    """The answers of `run_refs` that `only` keeps (as `export_for_review` selects them): negative flips first, then
    positive flips, then the rest in a fixed shuffled order (by a hash of run, task and sample), so that the first
    `limit` are a sample across tasks and the same on every load."""
    if limit is not None and limit < 1:
        raise UndriftError(f"limit must be 1 or more (got {limit}): it is how many answers the queue shows")
    if not run_refs:
        raise UndriftError("a review queue needs at least one run: give its id, an id prefix or its name")
    chosen = [c for c in select_for_review(store, run_refs, only, against) if c.row.repeat == 0 and c.row.answered]
    run_ids = list(dict.fromkeys(store.get_run(ref).id for ref in run_refs))
    current = latest_labels(store, run_ids)
    chosen.sort(key=lambda c: (FLIP_ORDER[c.flip], "" if c.flip else _shuffled(c.run, c.row.task, c.row.sample_id)))
    items = [ReviewItem(c.run, c.row.task, c.row.sample_id, c.row.messages[-1]["content"] if c.row.messages else "",
                        c.row.response, c.row.target, c.row.correct, c.flip,
                        current.get((c.run, c.row.task, c.row.sample_id)), c.row.messages)
             for c in chosen[:limit]]
    return ReviewQueue(run_ids, store.get_run(against).id if against else None, items, len(chosen))


def label(store: Store, run_ref: str, task: str, sample_id: str, verdict: str, correction: str | None = None,
          reviewer: str | None = None) -> Label:
    """Store a reviewer's verdict on a sample's answer: correct, incorrect or unsafe, with an optional correction
    (the answer wanted; it is what the sample teaches, as in a reviewed file).  Labelling again keeps the earlier
    label and makes the new one current."""
    verdict = verdict.strip().lower()
    if verdict not in LABELS:
        raise UndriftError(f"unknown label {verdict!r}: use {', '.join(LABELS[:-1])} or {LABELS[-1]}")
    run = store.get_run(run_ref)
    answers = [r for r in store.results(run.id, task) if r.sample_id == sample_id and r.repeat == 0] if task else []
    if not answers:
        raise UndriftError(f"run {run.id} has no sample {sample_id!r} in task {task!r}: the review queue "
                           "(undrift.review_queue, the dashboard's /review page) lists its samples")
    if not answers[0].answered:
        raise UndriftError(f"sample {sample_id!r} of run {run.id} holds an error, not an answer: there is nothing to "
                           "label (resume the run to ask again)")
    reviewer = (reviewer or "").strip() or None
    if reviewer is not None and len(reviewer) > 255:
        raise UndriftError(f"the reviewer's name is {len(reviewer)} characters long: give at most 255")
    return add_label(store, run.id, task, sample_id, verdict, (correction or "").strip() or None, reviewer)


def export_labels(store: Store, run_refs: list[str] | None = None, path: Path | None = None) -> TrainingData:
    """The stored labels of `run_refs` (None: every run) as training data, in the format `import_reviews` writes:
    a correction teaches the corrected answer, `correct` teaches the model's own, `incorrect` or `unsafe` without a
    correction teaches nothing and is counted.  Written to `path` (whole or not at all) when given."""
    if path is not None and not path.parent.is_dir():
        raise UndriftError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist")
    run_ids = None if run_refs is None else [store.get_run(ref).id for ref in run_refs]
    answers = labelled_answers(store, run_ids)
    where = "in this store" if run_ids is None else f"for run{'s' * (len(run_ids) != 1)} {', '.join(run_ids)}"
    if not answers:
        raise UndriftError(f"no labels {where}: label answers on the dashboard's review page or with undrift.label()")
    rows = [reviewed_row(number, a.label.sample_id, a.messages, a.label.label, a.label.correction or "", a.response)
            for number, a in enumerate(answers, start=1)]
    data = training_data(rows, f"no label {where} teaches anything: every one is incorrect or unsafe without a "
                               "correction; write the answer wanted as a correction")
    if path is not None:
        write_text_atomic(path, data.jsonl())
    return data


def _shuffled(*key: str) -> str:
    return hashlib.sha256("\x1f".join(key).encode()).hexdigest()


__all__ = ["LABELS", "ONLY", "Label", "ReviewItem", "ReviewQueue", "export_labels", "label", "review_queue"]
