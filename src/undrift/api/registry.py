"""The registry (versions, aliases, promotion through the gate, rollback), the model card, and review round trips."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..registry import AliasEvent, AliasMoved, GateRefused, ListedVersion, Promotion, Registry, Version, VersionDetail
from ..store import RunRecord, Store, as_store
from .arguments import checked

if TYPE_CHECKING:
    from ..review import ImportedLabels

__all__ = ["AliasEvent", "AliasMoved", "GateRefused", "ListedVersion", "Promotion", "Registry", "Version",
           "VersionDetail", "export_for_review", "import_reviews", "model_card"]


@checked
def model_card(name: str, *, db: Store | str | Path | None = None) -> str:
    """A model card (Markdown) for a version or alias, written from the evidence in the store: recipe, data hashes,
    evaluations, flips against its parent, forgetting."""
    from ..report.card import model_card as write_card

    return write_card(Registry(as_store(db, must_exist=True)), name)


@checked
def export_for_review(runs: Sequence[str | RunRecord], path: str | Path, *, only: str = "all",
                      against: str | None = None, db: Store | str | Path | None = None) -> int:
    """Write the responses of `runs` to `path` (.jsonl or .csv) with empty label and correction columns; `only`: all,
    wrong, flips or negative-flips (flips counted from the run `against`).  Returns how many rows were written."""
    from ..review import export_for_review as export

    return export(as_store(db, must_exist=True), list(runs), Path(path), only=only, against=against)


@checked
def import_reviews(reviewed: str | Path, path: str | Path) -> ImportedLabels:
    """Turn a reviewed export into chat JSONL training data at `path`: corrections, and answers labelled good."""
    from ..review import import_reviews as read

    return read(Path(reviewed), Path(path))
