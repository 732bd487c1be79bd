"""What is installed and what the store knows of: the model backends and suites that load by name (undrift's own and
plugins'), the bundled model's state, and the models the store has runs for (`undrift models`, `undrift suites`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..jsonable import jsonable
from ..store import Store, as_store, store_exists
from .arguments import checked

if TYPE_CHECKING:
    from ..models.base import Backend
    from ..plugins import Installed
    from ..suites.schema import Suite


@dataclass(frozen=True)
class StoredModel:
    """A run name the store holds, with the model spec of its latest run."""

    name: str
    spec: str

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"name": self.name, "spec": self.spec})


@dataclass(frozen=True)
class ModelCatalog:
    """The backends by spec scheme (a broken plugin's with its problem), where the bundled model file is (or why it
    is not there), and the models the store has runs for."""

    backends: list[Installed[Backend]]
    bundled: str | None
    bundled_problem: str | None
    stored: list[StoredModel] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "backends": [{"scheme": b.name, "usage": b.value.usage if b.value else None,
                          "description": b.value.description if b.value else None, "problem": b.problem,
                          "distribution": b.plugin.distribution, "version": b.plugin.version} for b in self.backends],
            "bundled": self.bundled, "bundled_problem": self.bundled_problem,
            "stored": [m.to_dict() for m in self.stored],
        })


def installed_backends() -> list[Installed[Backend]]:
    """Every model backend by spec scheme, with the package that provides it; a broken plugin carries its problem."""
    from ..models import installed_backends as installed

    return installed()


@checked
def installed_suites(seed: int = 0) -> list[Installed[Suite]]:
    """Every suite that loads by name, built from `seed`, with the package that provides it; one that fails to load
    carries its one-line problem instead."""
    from ..suites import installed_suites as installed

    return installed(seed)


@checked
def models_in_store(db: Store | str | Path | None = None) -> list[StoredModel]:
    """Each run name in the store with its latest run's spec; none (and no store file made) where a SQLite store
    does not exist yet."""
    if not store_exists(db):
        return []
    seen: dict[str, str] = {}
    for record in as_store(db).list_runs(limit=None):
        seen.setdefault(record.name, record.model_spec)
    return [StoredModel(name, spec) for name, spec in seen.items()]


@checked
def model_catalog(db: Store | str | Path | None = None) -> ModelCatalog:
    """What `undrift models` shows: the backends, the bundled model's state, the models with runs in the store."""
    from ..errors import UndriftError
    from ..models.gguf_cache import bundled_gguf

    try:
        bundled, problem = str(bundled_gguf()), None
    except UndriftError as missing:
        bundled, problem = None, str(missing)
    return ModelCatalog(installed_backends(), bundled, problem, models_in_store(db))
