"""Review labels as stored: a person's verdict on one answer of a run, read and written by `reviewing.py`.

The table is append-only: labelling a sample again adds a row, and the newest row of a (run, task, sample) is its
label.  So a change of mind never erases who said what and when (a later audit of training data can see it), and
two reviewers labelling at once cannot lose a write to an update race; reading the newest row per sample is cheap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from sqlalchemy import and_, select

from ..jsonable import jsonable
from .db import Store, as_utc
from .schema import labels, results

Item = tuple[str, str, str]  # (run id, task, sample id)


@dataclass(frozen=True)
class Label:
    """A reviewer's verdict on the answer of one sample of a run: correct, incorrect or unsafe, with an optional
    correction (the answer they wanted) and their name."""

    run_id: str
    task: str
    sample_id: str
    label: str
    correction: str | None
    reviewer: str | None
    at: datetime
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


@dataclass(frozen=True)
class LabelledAnswer:
    """A sample's newest label beside what was asked and answered (its first repeat): a review to learn from."""

    label: Label
    messages: list[dict[str, Any]]
    response: str


def add_label(store: Store, run_id: str, task: str, sample_id: str, label: str, correction: str | None,
              reviewer: str | None) -> Label:
    """Append one label (the caller has checked it) in its own transaction."""
    at = datetime.now(timezone.utc)
    with store.engine.begin() as connection:
        stored = connection.execute(labels.insert().values(
            run_id=run_id, task=task, sample_id=sample_id, label=label, correction=correction, reviewer=reviewer,
            at=at).returning(labels.c.id)).scalar_one()
    return Label(run_id, task, sample_id, label, correction, reviewer, at, stored)


def latest_labels(store: Store, run_ids: Iterable[str]) -> dict[Item, Label]:
    """The newest label of each labelled sample of `run_ids`."""
    query = select(labels).where(labels.c.run_id.in_(list(run_ids))).order_by(labels.c.id)
    with store.engine.connect() as connection:
        return _newest(connection.execute(query).mappings())


def labelled_answers(store: Store, run_ids: Iterable[str] | None = None) -> list[LabelledAnswer]:
    """Each labelled sample of `run_ids` (None: of every run) with its newest label and its answer, in the order
    the samples were first labelled."""
    answered = and_(results.c.run_id == labels.c.run_id, results.c.task == labels.c.task,
                    results.c.sample_id == labels.c.sample_id, results.c.repeat == 0)
    query = (select(labels, results.c.messages, results.c.response).join(results, answered)
             .order_by(labels.c.id))
    if run_ids is not None:
        query = query.where(labels.c.run_id.in_(list(run_ids)))
    with store.engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    answers = {(r["run_id"], r["task"], r["sample_id"]): r for r in rows}  # the newest row of each sample, in place
    newest = _newest(rows)
    return [LabelledAnswer(newest[item], row["messages"] or [], row["response"]) for item, row in answers.items()]


def _newest(rows) -> dict[Item, Label]:
    """Rows in id order, folded so that each sample keeps its newest label."""
    found: dict[Item, Label] = {}
    for row in rows:
        found[(row["run_id"], row["task"], row["sample_id"])] = Label(
            row["run_id"], row["task"], row["sample_id"], row["label"], row["correction"], row["reviewer"],
            as_utc(row["at"]), row["id"])
    return found


__all__ = ["Label", "LabelledAnswer", "add_label", "latest_labels", "labelled_answers"]
