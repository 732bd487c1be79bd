"""Recording off the request path: the proxy's side of the writer process (`writer.py`).

`offer` runs on the event loop, never blocks and never raises: it pickles the exchange and writes it to the writer's
pipe without blocking (what the pipe cannot take yet waits in a buffer the loop drains as the pipe empties).  What is
in flight (sent or buffered, not yet written or dropped by the writer) is bounded by count (`queue_size`) and by
bytes (`MAX_QUEUED_BYTES`); beyond either, the record is dropped and counted.  A writer that dies (killed, crashed)
loses what it held, counted as dropped with one log line, and a new one is started; requests never notice.  At
shutdown the writer gets `FLUSH_S` to write what is in flight; whatever is left is counted as dropped.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import anyio

from ..errors import UndriftError
from ..store.db import Store
from .exchange import Exchange
from .redact import Redactor
from .writer import BYTES_DONE, DROPPED, WRITTEN, frame, serve

log = logging.getLogger("undrift.proxy")
MAX_QUEUED_BYTES = 256_000_000  # bodies in flight to the writer; beyond it records are dropped, not memory exhausted
FLUSH_S = 5.0  # at shutdown, how long the writer may go on writing what is in flight
RESTART_S = 1.0  # a writer that died is started again, at most this often
SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter: no copy of the proxy's loop, threads or sockets


def check_shared(store: Store) -> None:
    """The writer process opens the store anew: an in-memory SQLite store, private to this process, cannot be used."""
    if store.engine.dialect.name == "sqlite" and store.engine.url.database in (None, "", ":memory:"):
        raise UndriftError("the proxy records from a writer process of its own, which cannot see an in-memory "
                           "SQLite store: give a file (sqlite:///traffic.db) or PostgreSQL")


@dataclass
class _Writer:
    """One writer process, the proxy's end of its pipe, and what the proxy has sent it."""

    process: BaseProcess
    channel: Connection
    counters: object  # RawArray of int64: WRITTEN, DROPPED, BYTES_DONE, set by the writer
    accepted: int = 0
    accepted_bytes: int = 0
    pending: bytearray = field(default_factory=bytearray)  # frames the pipe has not taken yet

    @property
    def in_flight(self) -> int:
        return self.accepted - self.counters[WRITTEN] - self.counters[DROPPED]


class Recorder:
    """Made inside the running event loop; `offer` and `aclose` are called from it."""

    def __init__(self, store: Store, redactor: Redactor, queue_size: int, batch_size: int) -> None:
        self.store_url, self.redactor = store.url, redactor
        self.queue_size, self.batch_size = queue_size, batch_size
        self.written = self.dropped = 0  # by writers that have ended, and drops of the proxy's own
        self._loop = asyncio.get_running_loop()
        self._writer: _Writer | None = None
        self._stopping = False
        self._started_at = 0.0
        self._start()

    # -- what /metrics reads --------------------------------------------------------------------------------------

    def totals(self) -> tuple[int, int, int]:
        """(records written, records dropped, records in flight) so far."""
        writer = self._writer
        if writer is None:
            return self.written, self.dropped, 0
        counters = writer.counters
        return self.written + counters[WRITTEN], self.dropped + counters[DROPPED], writer.in_flight

    # -- the request path -------------------------------------------------------------------------------------

    def offer(self, exchange: Exchange) -> None:
        writer = self._writer
        if writer is None or self._stopping or writer.in_flight >= self.queue_size:
            self.dropped += 1
            return
        header, payload = frame(pickle.dumps(exchange, protocol=pickle.HIGHEST_PROTOCOL))
        size = len(header) + len(payload)
        if writer.accepted_bytes - writer.counters[BYTES_DONE] + size > MAX_QUEUED_BYTES:
            self.dropped += 1
            return
        writer.accepted += 1
        writer.accepted_bytes += size
        if writer.pending:  # the pipe is full: keep the order, the loop sends it when the pipe drains
            writer.pending += header
            writer.pending += payload
            return
        try:
            sent = os.writev(writer.channel.fileno(), (header, payload))
        except BlockingIOError:
            sent = 0
        except OSError:  # the writer is gone (EPIPE); its death is accounted for in `_ended`
            self._ended(writer)
            return
        if sent < size:
            writer.pending += (header + payload)[sent:]
            self._loop.add_writer(writer.channel.fileno(), self._drain, writer)

    def _drain(self, writer: _Writer) -> None:
        try:
            sent = os.write(writer.channel.fileno(), writer.pending)
        except BlockingIOError:
            return
        except OSError:
            self._ended(writer)
            return
        del writer.pending[:sent]
        if not writer.pending:
            self._loop.remove_writer(writer.channel.fileno())

    # -- the writer's life ------------------------------------------------------------------------------------

    def _start(self) -> None:
        self._started_at = time.monotonic()
        ours, theirs = SPAWN.Pipe(duplex=False)  # (the reading end, the writing end)
        counters = SPAWN.RawArray("q", 3)
        process = SPAWN.Process(target=serve, args=(ours, self.store_url, self.redactor, self.batch_size, counters),
                                name="undrift-proxy-writer", daemon=True)
        process.start()
        ours.close()  # only the writer holds the reading end: when it dies, a write here fails at once
        os.set_blocking(theirs.fileno(), False)
        self._writer = _Writer(process, theirs, counters)
        self._loop.add_reader(process.sentinel, self._ended, self._writer)

    def _ended(self, writer: _Writer) -> None:
        """A writer died while the proxy runs: what it held is lost, counted; another is started."""
        if writer is not self._writer:
            return
        self._unwatch(writer)
        writer.process.join(0)
        lost = self._fold(writer)
        log.warning("undrift proxy: the recording writer process ended (exit code %s); %d traffic records dropped; "
                    "starting another", writer.process.exitcode, lost)
        self._loop.call_later(max(0.0, self._started_at + RESTART_S - time.monotonic()), self._restart)

    def _restart(self) -> None:
        if self._writer is None and not self._stopping:
            self._start()

    def _unwatch(self, writer: _Writer) -> None:
        """The loop stops watching the writer, and the proxy's end of its pipe is closed: the writer sees the end."""
        self._loop.remove_reader(writer.process.sentinel)
        if writer.pending:
            self._loop.remove_writer(writer.channel.fileno())
        writer.channel.close()

    def _fold(self, writer: _Writer) -> int:
        """An ended writer's counts added to the totals; returns the records it never wrote, counted as dropped."""
        lost = writer.in_flight
        self.written += writer.counters[WRITTEN]
        self.dropped += writer.counters[DROPPED] + lost
        self._writer = None
        return lost

    async def aclose(self, flush_s: float = FLUSH_S) -> None:
        """Let the writer write what is in flight (for at most `flush_s`), then end it; what is left is dropped."""
        self._stopping = True
        writer = self._writer
        deadline = time.monotonic() + flush_s
        while writer is not None and writer.pending and writer is self._writer and time.monotonic() < deadline:
            await anyio.sleep(0.01)
        if writer is None or writer is not self._writer:  # none, or it died meanwhile
            return
        self._unwatch(writer)
        await anyio.to_thread.run_sync(writer.process.join, max(0.0, deadline - time.monotonic()))
        if writer.process.is_alive():
            writer.process.kill()
            await anyio.to_thread.run_sync(writer.process.join, 5)
        lost = self._fold(writer)
        if lost:
            log.warning("undrift proxy: %d traffic records dropped at shutdown, not written within %g s", lost,
                        flush_s)
