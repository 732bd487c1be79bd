"""The human side of a data refresh: export responses for labelling, import the labels as training data.

Export writes one row per response with empty `label` and `correction` columns for a reviewer (JSONL or CSV, to
open in a spreadsheet or a labelling tool); against an earlier run, its `flip` column says which answers flipped
(negative: was right, now wrong; positive: was wrong, now right).  Import reads them back: a row with a
correction becomes a training example with the corrected answer; a row labelled good keeps the model's own answer;
a row labelled bad without a correction teaches nothing and is counted, not guessed at.  The result is chat JSONL
that `undrift train` reads.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import UndriftError, option
from .files import write_text_atomic
from .jsonable import jsonable
from .store import ResultRow, Store
from .userfiles import csv_rows, jsonl_rows

GOOD = {"good", "right", "correct", "accept", "accepted", "yes", "1", "true", "ok"}
BAD = {"bad", "wrong", "incorrect", "unsafe", "reject", "rejected", "no", "0", "false"}
COLUMNS = ["review_id", "run", "task", "sample_id", "prompt", "response", "target", "correct", "flip", "label",
           "correction", "messages"]
ONLY = ("all", "wrong", "flips", "negative-flips")


@dataclass(frozen=True)
class Reviewed:
    """One reviewed row: the conversation, the reviewer's outcome, and the answer it approves (None if none)."""

    line: int
    sample_id: str | None
    messages: list[dict[str, Any]]
    outcome: str  # corrected, accepted, rejected_without_correction or unlabelled
    answer: str | None


@dataclass
class ImportedLabels:
    corrected: int
    accepted: int
    rejected_without_correction: int
    unlabelled: int
    written: int

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def export_for_review(store: Store, run_refs: list[str], path: Path, only: str = "all",
                      against: str | None = None) -> int:
    """Write the responses of `run_refs` for review; `only` = all, wrong, flips (both ways) or negative-flips
    (the last two need `against`)."""
    fmt = _format(path)
    rows = [review_row(f"{c.run}/{c.row.task}/{c.row.sample_id}/{c.row.repeat}", c.run, c.row.task, c.row.sample_id,
                       c.row.messages or [], c.row.response, c.row.target, c.row.correct, c.flip)
            for c in select_for_review(store, run_refs, only, against)]
    _write(path, fmt, rows)
    return len(rows)


@dataclass(frozen=True)
class Candidate:
    """A stored answer chosen for review, with its flip against the earlier run ('' when none)."""

    run: str
    row: ResultRow
    flip: str


def select_for_review(store: Store, run_refs: list[str], only: str = "all",
                      against: str | None = None) -> list[Candidate]:
    """The answers of `run_refs` that `only` keeps (all, wrong, flips or negative-flips; flips need `against`), each
    with its flip against `against`'s answer to the same sample: the one selection the file export and the review
    queue share."""
    if only not in ONLY:
        raise UndriftError(f"{option('only')} must be {', '.join(ONLY[:-1])} or {ONLY[-1]} (got {only!r})")
    if only.endswith("flips") and not against:
        raise UndriftError(f"{option('only', repr(only))} needs {option('against')}: the run the flips are counted from")
    earlier = {}
    if against:
        earlier = {(r.task, r.sample_id): r.correct for r in store.results(store.get_run(against).id)
                   if r.repeat == 0}
    chosen = []
    for ref in run_refs:
        run = store.get_run(ref)
        for r in store.results(run.id):
            flip = _flip(earlier.get((r.task, r.sample_id)), r.correct)
            if only == "wrong" and r.correct is not False:
                continue
            if (only == "flips" and not flip) or (only == "negative-flips" and flip != "negative"):
                continue
            chosen.append(Candidate(run.id, r, flip))
    return chosen


def review_row(review_id: str, run: str, task: str, sample_id: str, messages: list[dict[str, Any]], response: str,
               target: Any = None, correct: bool | None = None, flip: str = "") -> dict[str, Any]:
    """One row to review, in the columns `COLUMNS` names, with empty `label` and `correction`."""
    return {"review_id": review_id, "run": run, "task": task, "sample_id": sample_id,
            "prompt": messages[-1]["content"] if messages else "", "response": response, "target": target,
            "correct": correct, "flip": flip, "label": "", "correction": "", "messages": messages}


def write_for_review(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write `review_row`s as JSONL or CSV (by the file's suffix), whole or not at all."""
    _write(path, _format(path), rows)


def read_reviews(path: Path) -> list[Reviewed]:
    """The rows of a reviewed file with their outcomes: a correction wins, a good label accepts the response, a bad
    one without a correction rejects it, no label is unlabelled."""
    if not path.is_file():
        raise UndriftError(f"no review file {str(path)!r}: check the path, or write one to label with `undrift review "
                           "export RUN --out FILE.csv` (runs) or `undrift traffic export-suite ... --for-review "
                           "FILE.csv` (recorded traffic)")
    reviewed = []
    for line, row in _read(path, _format(path)):
        for column in ("messages", "response"):
            if column not in row:
                raise UndriftError(f"{path.name} line {line}: no {column!r} column; export with `undrift review export`")
        messages = row["messages"]
        if isinstance(messages, str):
            try:
                messages = json.loads(messages)
            except json.JSONDecodeError:
                raise UndriftError(f"{path.name} line {line}: the messages column is not JSON") from None
        label = str(row.get("label") or "").strip().lower()
        if label and label not in GOOD | BAD:
            raise UndriftError(f"{path.name} line {line}: unknown label {label!r}; use good or bad (or leave it empty "
                               "and write a correction)")
        sample_id = row.get("sample_id")
        reviewed.append(reviewed_row(line, None if sample_id in (None, "") else str(sample_id), messages, label,
                                     str(row.get("correction") or ""), row["response"]))
    return reviewed


def reviewed_row(line: int, sample_id: str | None, messages: list[dict[str, Any]], label: str, correction: str,
                 response: str) -> Reviewed:
    """The one rule of what a review teaches: a correction wins, a good label (correct, good, ...) accepts the
    response, a bad one (incorrect, unsafe, ...) without a correction rejects it, no label is unlabelled."""
    label, correction = label.strip().lower(), correction.strip()
    if correction:
        outcome, answer = "corrected", correction
    elif label in GOOD:
        outcome, answer = "accepted", response
    else:
        outcome, answer = ("rejected_without_correction" if label in BAD else "unlabelled"), None
    return Reviewed(line, sample_id, messages, outcome, answer)


@dataclass(frozen=True)
class TrainingData:
    """What reviews teach: chat examples (the conversation and the approved answer) and how each review counted."""

    examples: list[dict[str, Any]]
    counts: ImportedLabels

    def jsonl(self) -> str:
        """The examples as the chat JSONL `undrift train` reads, one per line."""
        return "".join(json.dumps(example) + "\n" for example in self.examples)

    def to_dict(self) -> dict[str, Any]:
        return self.counts.to_dict()


def training_data(rows: list[Reviewed], nothing: str) -> TrainingData:
    """The training examples of reviewed rows: the one format that `import_reviews` and stored labels
    (`reviewing.export_labels`) write.  `nothing` is the line to refuse with when no row teaches anything."""
    counts = {"corrected": 0, "accepted": 0, "rejected_without_correction": 0, "unlabelled": 0}
    examples = []
    for row in rows:
        counts[row.outcome] += 1
        if row.answer is not None:
            examples.append({"messages": [*row.messages, {"role": "assistant", "content": row.answer}]})
    if not examples:
        raise UndriftError(nothing)
    return TrainingData(examples, ImportedLabels(written=len(examples), **counts))


def import_reviews(path: Path, out: Path) -> ImportedLabels:
    """Turn a reviewed export into chat JSONL training data at `out` (written whole or not at all)."""
    data = training_data(read_reviews(path), f"{path.name} has no labelled rows to learn from: mark rows good or "
                                             "write corrections")
    write_text_atomic(out, data.jsonl())
    return data.counts


def _flip(old: bool | None, new: bool | None) -> str:
    """negative (was right, now wrong), positive (was wrong, now right), or '' (no flip, or no verdict to flip)."""
    if old is True and new is False:
        return "negative"
    if old is False and new is True:
        return "positive"
    return ""


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise UndriftError(f"{path.name}: review files are .jsonl or .csv")
    return suffix[1:]


def _write(path: Path, fmt: str, rows: list[dict[str, Any]]) -> None:
    if not path.parent.exists():
        raise UndriftError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist")
    if fmt == "jsonl":
        write_text_atomic(path, "".join(json.dumps(row, default=str) + "\n" for row in rows))
        return
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, COLUMNS)
    writer.writeheader()
    writer.writerows({column: _to_spreadsheet(cell) for column, cell in
                      {**row, "messages": json.dumps(row["messages"]), "target": json.dumps(row["target"])}.items()}
                     for row in rows)
    write_text_atomic(path, buffer.getvalue())


def _read(path: Path, fmt: str):
    if fmt == "jsonl":
        yield from jsonl_rows(path)
        return
    for line, row in csv_rows(path):
        yield line, {column: _from_spreadsheet(cell) for column, cell in row.items()}


# A cell that starts with one of these is a formula to a spreadsheet (OWASP's CSV injection rule): `=HYPERLINK(...)`
# in a model's answer would become a live link in the reviewer's sheet.  Such a cell is written with a leading
# apostrophe, which spreadsheets show as text; a cell that starts with an apostrophe gets one more, so reading
# strips exactly one and every answer comes back as it was.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _to_spreadsheet(cell: Any) -> Any:
    return "'" + cell if isinstance(cell, str) and cell.startswith((*FORMULA_STARTS, "'")) else cell


def _from_spreadsheet(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith((*FORMULA_STARTS, "'")) else cell
