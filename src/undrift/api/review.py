"""Review in the store: the queue of answers to label (flips first), a label, and the labels as training data
(reviewing.py).  The file round trip (`export_for_review`, `import_reviews`) is in api/registry.py."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..reviewing import ReviewItem, ReviewQueue
from ..review import TrainingData
from ..store import RunRecord, Store, as_store
from ..store.labels import Label
from .arguments import checked

__all__ = ["Label", "ReviewItem", "ReviewQueue", "TrainingData", "export_labels", "label", "review_queue"]


@checked
def review_queue(runs: Sequence[str | RunRecord], *, against: str | RunRecord | None = None, only: str = "all",
                 limit: int | None = None, db: Store | str | Path | None = None) -> ReviewQueue:
    """The answers of `runs` to review, each with its current label: flips against the run `against` first
    (negative, then positive), then the rest in a fixed shuffled order; `only`: all, wrong, flips or
    negative-flips, as `export_for_review` takes it; `limit`: at most this many (`.total` counts them all)."""
    from ..reviewing import review_queue as queue

    return queue(as_store(db, must_exist=True), list(runs), against, only, limit)


@checked
def label(run: str | RunRecord, task: str, sample_id: str, verdict: str, *, correction: str | None = None,
          reviewer: str | None = None, db: Store | str | Path | None = None) -> Label:
    """Store a reviewer's verdict on the answer to `sample_id` of `task` in `run`: "correct", "incorrect" or
    "unsafe", with an optional correction (the answer wanted).  Labels are kept, never overwritten: labelling the
    sample again makes the new label its current one."""
    from ..reviewing import label as store_label

    return store_label(as_store(db, must_exist=True), run, task, sample_id, verdict, correction, reviewer)


@checked
def export_labels(runs: Sequence[str | RunRecord] | None = None, path: str | Path | None = None, *,
                  db: Store | str | Path | None = None) -> TrainingData:
    """The stored labels of `runs` (None: every run) as chat JSONL training data, the format `import_reviews`
    writes: corrections, and answers labelled correct.  Written to `path` when given; `.jsonl()` is the text."""
    from ..reviewing import export_labels as export

    return export(as_store(db, must_exist=True), None if runs is None else list(runs),
                  None if path is None else Path(path))
