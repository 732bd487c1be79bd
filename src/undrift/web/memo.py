"""Results computed from append-only data, kept while that data stays the same.

- `undrift.history` of a model name: computing it reads a column or two of every result row of every run of the
  name (about 0.3 s of CPU for 40 runs of 1,000 samples; the overview needs one for every name).  Runs are
  append-only and a finished run's results never change, so the same runs in the same states give the same
  history: it is kept under the list of (run id, status) and computed again only when a run is added or finishes.
- `undrift.analyse_traffic` of one recorded model: it reads every record of the model (0.7 s for 10,000).  Recorded
  traffic is append-only, so the same number of records with the same newest time are the same records.

Bounded, least recently used first out."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable

from .. import RecordedModel, TrafficQuery, TrafficReport, UndriftError, analyse_traffic, history, runs
from ..analysis.history import ModelHistory
from ..store import RunRecord, Store

SIZE = 256


class Kept:
    """A bounded least-recently-used map, safe across the server's threads.  A value being computed is computed
    once: a second thread asking for the same key meanwhile waits for it (the start-up warm-up and the first
    visitor ask for the same histories)."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._kept: OrderedDict[tuple, Any] = OrderedDict()
        self._pending: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()
        self.computed = 0  # values computed so far (not found kept)

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        while True:
            with self._lock:
                if key in self._kept:
                    self._kept.move_to_end(key)
                    return self._kept[key]
                busy = self._pending.get(key)
                if busy is None:
                    self._pending[key] = mine = threading.Lock()
                    mine.acquire()
                    break
            with busy:  # another thread computes it: wait, then look again (it may have raised)
                pass
        try:
            found = compute()
            with self._lock:
                self.computed += 1
                self._kept[key] = found
                while len(self._kept) > self.size:
                    self._kept.popitem(last=False)
            return found
        finally:
            with self._lock:
                del self._pending[key]
            mine.release()


class HistoryMemo:
    def __init__(self, store: Store, size: int = SIZE) -> None:
        self.store, self._kept = store, Kept(size)

    @property
    def computed(self) -> int:
        """Histories computed so far (not found kept)."""
        return self._kept.computed

    def get(self, name: str, metric: str | None = None, records: list[RunRecord] | None = None,
            slice: str | None = None) -> ModelHistory:
        """The history of `name` (its `records` if the caller has them already); raises as `undrift.history`."""
        if records is None:
            records = runs(name=name, limit=None, db=self.store)
        key = (name, metric, slice, tuple((r.id, r.status) for r in records))
        return self._kept.get(key, lambda: history(name, metric=metric, slice=slice, db=self.store))

    def maybe(self, name: str, records: list[RunRecord]) -> ModelHistory | None:
        """The history, or None where the name has no complete run yet (nothing to test)."""
        try:
            return self.get(name, records=records)
        except UndriftError:
            return None


class TrafficMemo:
    def __init__(self, store: Store, size: int = SIZE) -> None:
        self.store, self._kept = store, Kept(size)

    def get(self, query: TrafficQuery, recorded: RecordedModel) -> TrafficReport:
        """The report of `query`, which asks for `recorded.model`'s traffic over all time (no since/until: those
        would move with the clock); raises as `undrift.analyse_traffic`."""
        assert query.model == recorded.model and query.since is None and query.until is None
        key = (query, recorded.records, recorded.last_at)
        return self._kept.get(key, lambda: analyse_traffic(query, db=self.store))
