"""Which model version each run of a name ran, for the history page's markers: the runs where the model changed
(its spec differs from the previous run's, named by the registered version it is where that can be told),
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
    names = {v.name for v in versions}
    with_spec: dict[str, list[str]] = {}
    for version in versions:
        with_spec.setdefault(version.spec, []).append(version.name)
    model = {r.id: _version_of(r, names, with_spec) for r in records}
    changed: dict[str, str] = {}
    ordered = sorted((r for r in records if r.status == "complete"), key=lambda r: (r.created_at, r.id))
    for before, after in zip(ordered, ordered[1:]):
        if model[before.id] != model[after.id]:
            changed[after.id] = f"{model[before.id]} → {model[after.id]}"
    concerned = {name, *model.values()}
    moves = [AliasMove(e.at, f"{e.alias}: {e.previous or 'none'} → {e.version} ({e.action})")
             for e in registry.events() if e.alias in concerned or e.version in concerned or e.previous in concerned]
    return VersionMarks(model, changed, moves)


def _version_of(record: RunRecord, names: set[str], with_spec: dict[str, list[str]]) -> str:
    """The run's own name where that is a registered version; else the one version registered with its spec; else
    the spec (several versions may share a spec, e.g. the runs a watch files: the spec alone cannot tell which)."""
    if record.name in names:
        return record.name
    candidates = with_spec.get(record.model_spec, [])
    return candidates[0] if len(candidates) == 1 else record.model_spec
