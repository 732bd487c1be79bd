"""Recording off the request path: a bounded queue and one background writer thread.

`offer` never blocks and never raises: when the queue is full (by count, or by the bytes it holds) the record is
dropped and counted.  The writer takes what is waiting, turns it into redacted records and writes them with
`add_traffic`, one transaction per batch; a store that fails (locked past its busy timeout, its file deleted, the
server down) loses that batch, counted as dropped, and the writer goes on with the next.  A request never waits on,
or fails because of, the store.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path

from ..store.db import Store
from ..store.traffic import add_traffic
from .exchange import Exchange, to_record
from .metrics import ProxyMetrics
from .redact import Redactor

log = logging.getLogger("undrift.proxy")
MAX_QUEUED_BYTES = 256_000_000  # bodies waiting for the writer; beyond it records are dropped, not memory exhausted
FLUSH_S = 5.0  # at shutdown, how long the writer may go on writing what is queued
# A transaction costs far more than a row (a checkout, a commit, an fsync), so the writer waits this long for a
# batch to fill before writing it: records land within about this delay, at a fraction of the CPU.
LINGER_S = 0.5


class Recorder:
    def __init__(self, store: Store, redactor: Redactor, metrics: ProxyMetrics, queue_size: int,
                 batch_size: int) -> None:
        self.store, self.redactor, self.metrics, self.batch_size = store, redactor, metrics, batch_size
        self._queue: queue.Queue[Exchange] = queue.Queue(maxsize=queue_size)
        self._bytes = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._failing: str | None = None  # the store's last error while it keeps failing, to log changes only
        metrics.queue_depth.set_function(self._queue.qsize)
        self._thread = threading.Thread(target=self._run, name="undrift-proxy-writer", daemon=True)
        self._thread.start()

    def offer(self, exchange: Exchange) -> None:
        with self._lock:
            if self._bytes + exchange.size > MAX_QUEUED_BYTES or self._stopping.is_set():
                self.metrics.dropped.inc()
                return
            try:
                self._queue.put_nowait(exchange)
            except queue.Full:
                self.metrics.dropped.inc()
                return
            self._bytes += exchange.size

    def stop(self, flush_s: float = FLUSH_S) -> None:
        """Write what is queued (for at most `flush_s`), then end the writer; what is left is counted as dropped."""
        self._stopping.set()
        self._thread.join(flush_s)

    def _run(self) -> None:
        while True:
            try:
                batch = [self._queue.get(timeout=0.1)]
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            until = time.monotonic() + LINGER_S
            while len(batch) < self.batch_size:
                wait = 0.0 if self._stopping.is_set() else until - time.monotonic()
                try:
                    batch.append(self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            with self._lock:
                self._bytes -= sum(exchange.size for exchange in batch)
            self._write(batch)

    def _write(self, batch: list[Exchange]) -> None:
        try:
            if _deleted(self.store):
                self.store.engine.dispose()  # so that a store put back is opened afresh, not the deleted file
                raise OSError(f"the store file {self.store.engine.url.database} was deleted")
            add_traffic(self.store, [to_record(exchange, self.redactor) for exchange in batch])
        except Exception as exc:  # noqa: BLE001 - whatever the store does, requests go on and the loss is counted
            self.metrics.dropped.inc(len(batch))
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if message != self._failing:
                log.warning("undrift proxy: %d traffic records dropped, the store failed: %s", len(batch), message)
            self._failing = message
            return
        self.metrics.written.inc(len(batch))
        if self._failing is not None:
            log.warning("undrift proxy: the store works again; recording goes on")
            self._failing = None


def _deleted(store: Store) -> bool:
    """An SQLite file deleted under an open connection still takes writes (into the unlinked file, lost when the
    connection closes): look for the file itself."""
    database = store.engine.url.database
    return store.engine.dialect.name == "sqlite" and database not in (None, "", ":memory:") and \
        not Path(database).exists()
