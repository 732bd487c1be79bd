"""The recording writer: a process of its own that turns the proxy's raw exchanges into redacted records and writes
them into the store, so that parsing, masking and inserting never hold the proxy's interpreter (its GIL) while
requests wait on its event loop.

The proxy sends each exchange as one frame (a 4-byte little-endian length, then the pickled `Exchange`) down a pipe
that only it writes.  The writer reads what is there, waits up to `LINGER_S` for a batch to fill, and writes it with
`add_traffic`, one transaction per batch; a store that fails (locked past its busy timeout, its file deleted, the
server down) loses that batch, and the writer goes on with the next.  What it has done it counts in `Counters`,
shared memory the proxy reads for `/metrics` and for its bound on what is in flight.

It stops when the pipe reaches its end: the proxy closed it (stopping, after its last frame) or died (even by
SIGKILL, as the kernel closes a dead process's files), or when its parent process changes.  It ignores SIGINT, which
a terminal sends to the whole group, and on SIGTERM (a service manager stopping the whole group, or Python's exit
ending a proxy that never shut down) it goes on for at most `TERM_GRACE_S` to write what the proxy sent.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import struct
import time
from multiprocessing.connection import Connection
from pathlib import Path

from ..store.db import Store
from ..store.traffic import add_traffic
from .exchange import to_record
from .redact import Redactor

log = logging.getLogger("undrift.proxy")
HEADER = struct.Struct("<I")
# A transaction costs far more than a row (a checkout, a commit, an fsync), so the writer waits this long for a
# batch to fill before writing it: records land within about this delay, at a fraction of the CPU.
LINGER_S = 0.5
TERM_GRACE_S = 5
PARENT_CHECK_S = 1.0  # how often a writer with nothing to read looks whether its proxy is still its parent
WRITTEN, DROPPED, BYTES_DONE = range(3)  # the slots of the shared counters


def frame(payload: bytes) -> tuple[bytes, bytes]:
    """The header and payload of one frame, for `os.writev`."""
    return HEADER.pack(len(payload)), payload


class Frames:
    """Frames read from the pipe's file descriptor; `next` waits at most `timeout` seconds (None: until one comes)."""

    def __init__(self, fd: int) -> None:
        self.fd, self.ended = fd, False
        self._buffer = bytearray()
        self._parent = os.getppid()

    def next(self, timeout: float | None) -> bytes | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if len(self._buffer) >= HEADER.size:
                (length,) = HEADER.unpack_from(self._buffer)
                if len(self._buffer) >= HEADER.size + length:
                    payload = bytes(self._buffer[HEADER.size:HEADER.size + length])
                    del self._buffer[:HEADER.size + length]
                    return payload
            if self.ended:
                return None
            wait = PARENT_CHECK_S if deadline is None else min(PARENT_CHECK_S, deadline - time.monotonic())
            if wait <= 0:
                return None
            if not select.select([self.fd], [], [], wait)[0]:
                if os.getppid() != self._parent:
                    self.ended = True
                continue
            chunk = os.read(self.fd, 1 << 20)
            if chunk:
                self._buffer += chunk
            else:
                self.ended = True


class Writer:
    def __init__(self, store_url: str, redactor: Redactor, counters) -> None:
        self.store_url, self.redactor, self.counters = store_url, redactor, counters
        self.store: Store | None = None
        self._failing: str | None = None  # the store's last error while it keeps failing, to log changes only

    def write(self, batch: list[bytes]) -> None:
        try:
            if self.store is None:
                self.store = Store.open(self.store_url)
            if _deleted(self.store):
                self.store.engine.dispose()  # so that a store put back is opened afresh, not the deleted file
                raise OSError(f"the store file {self.store.engine.url.database} was deleted")
            add_traffic(self.store, [to_record(pickle.loads(payload), self.redactor) for payload in batch])
        except Exception as exc:  # noqa: BLE001 - whatever the store does, the loss is counted and the writer goes on
            self.counters[DROPPED] += len(batch)
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if message != self._failing:
                log.warning("undrift proxy: %d traffic records dropped, the store failed: %s", len(batch), message)
            self._failing = message
        else:
            self.counters[WRITTEN] += len(batch)
            if self._failing is not None:
                log.warning("undrift proxy: the store works again; recording goes on")
                self._failing = None
        self.counters[BYTES_DONE] += sum(HEADER.size + len(payload) for payload in batch)


def serve(channel: Connection, store_url: str, redactor: Redactor, batch_size: int, counters) -> None:
    """The writer process's whole life: batches from the pipe into the store until the pipe ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: signal.alarm(TERM_GRACE_S))  # SIGALRM's default action ends it
    _yield_cpu()
    frames, writer = Frames(channel.fileno()), Writer(store_url, redactor, counters)
    while (first := frames.next(None)) is not None:
        batch = [first]
        until = time.monotonic() + LINGER_S
        while len(batch) < batch_size and (more := frames.next(max(0.0, until - time.monotonic()))) is not None:
            batch.append(more)
        writer.write(batch)


def _yield_cpu() -> None:
    """The writer runs when the proxy's requests leave a CPU idle: `SCHED_IDLE` where the system has it (Linux),
    else the lowest niceness.  A writer starved this way falls behind; the proxy's bound on what is in flight then
    drops records (counted) rather than slowing a request."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)


def _deleted(store: Store) -> bool:
    """An SQLite file deleted under an open connection still takes writes (into the unlinked file, lost when the
    connection closes): look for the file itself."""
    database = store.engine.url.database
    return store.engine.dialect.name == "sqlite" and database not in (None, "", ":memory:") and \
        not Path(database).exists()
