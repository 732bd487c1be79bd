"""`undrift.history` of a model name, kept while the name's runs stay the same.

Computing a history reads a column or two of every result row of every run of the name (about 0.3 s of CPU for 40
runs of 1,000 samples; the overview needs one for every name).  Runs are append-only and a finished run's results
never change, so the same runs in the same states give the same history: it is kept under the list of (run id,
status) and computed again only when a run is added or finishes.  Bounded, least recently used first out."""

from __future__ import annotations

import threading
from collections import OrderedDict

from .. import UndriftError, history, runs
from ..analysis.history import ModelHistory
from ..store import RunRecord, Store

SIZE = 256


class HistoryMemo:
    def __init__(self, store: Store, size: int = SIZE) -> None:
        self.store, self.size = store, size
        self._kept: OrderedDict[tuple, ModelHistory] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str, metric: str | None = None, records: list[RunRecord] | None = None) -> ModelHistory:
        """The history of `name` (its `records` if the caller has them already); raises as `undrift.history`."""
        if records is None:
            records = runs(name=name, limit=None, db=self.store)
        key = (name, metric, tuple((r.id, r.status) for r in records))
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        found = history(name, metric=metric, db=self.store)
        with self._lock:
            self._kept[key] = found
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return found

    def maybe(self, name: str, records: list[RunRecord]) -> ModelHistory | None:
        """The history, or None where the name has no complete run yet (nothing to test)."""
        try:
            return self.get(name, records=records)
        except UndriftError:
            return None
