"""Importing generations recorded elsewhere (the LLMDrift study's CSVs, any JSONL or CSV) as runs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..store import RunRecord, Store, as_store
from .arguments import checked

if TYPE_CHECKING:
    from ..importing import Columns
    from ..suites import ScorerConfig


@checked
def import_generations(files: Sequence[str | Path], format: str, *, suite: str = "imported", name: str | None = None,
                       task: str = "imported", scorer: str | ScorerConfig = "exact",
                       scorer_params: Mapping[str, Any] | None = None, columns: Columns | None = None,
                       db: Store | str | Path | None = None, progress: bool = False) -> list[RunRecord]:
    """Import `files` (`format`: llmdrift, jsonl or csv) as complete runs, one per model version found, each scored
    with its task's scorer and registered as an imported version.  `columns` says where a jsonl/csv file keeps each
    field; with `name` every record is one model's (the model column is ignored).  Files are read, checked and
    scored before the store is touched, and all runs are written in one transaction."""
    from ..importing import Columns, ImportOptions, prepare_import
    from ..suites import ScorerConfig

    where = columns or Columns()
    if name:
        where = replace(where, model=None)
    config = scorer if isinstance(scorer, ScorerConfig) else ScorerConfig(scorer, dict(scorer_params or {}))
    options = ImportOptions(format=format, suite=suite, name=name, task=task, scorer=config, columns=where)
    return prepare_import([str(f) for f in files], options, progress=progress).write(as_store(db))
