"""Which model version each run of a name ran, for the history page's markers: the runs where the model changed
(its spec differs from the previous run's, named by the registered version that has that spec where there is one),
and the registry's alias moves that concern the name (read through `undrift.Registry`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .. import Registry
from ..store import RunRecord, Store


@dataclass(frozen=True)
class AliasMove:
    at: datetime
    text: str  # e.g. "production: v1 → v2 (promote)"


@dataclass(frozen=True)
class VersionMarks:
    model: dict[str, str]  # run id: the model it ran (a registered version's name, else its spec)
    changed: dict[str, str]  # run id: "old → new", where the model differs from the previous run's
    moves: list[AliasMove]


def version_marks(store: Store, name: str, records: list[RunRecord]) -> VersionMarks:
    """Marks for `records` (one name's runs, any order)."""
    registry = Registry(store)
    versions = registry.list()
    by_spec = {v.spec: v.name for v in versions}
    model = {r.id: by_spec.get(r.model_spec, r.model_spec) for r in records}
    changed: dict[str, str] = {}
    ordered = sorted((r for r in records if r.status == "complete"), key=lambda r: (r.created_at, r.id))
    for before, after in zip(ordered, ordered[1:]):
        if model[before.id] != model[after.id]:
            changed[after.id] = f"{model[before.id]} → {model[after.id]}"
    concerned = {name, *model.values()}
    moves = [AliasMove(e.at, f"{e.alias}: {e.previous or 'none'} → {e.version} ({e.action})")
             for e in registry.events() if e.alias in concerned or e.version in concerned or e.previous in concerned]
    return VersionMarks(model, changed, moves)
