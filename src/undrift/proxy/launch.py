"""Starting `undrift proxy`: refuse an open address without a token and bad patterns before the store is touched,
open a store that can be written, bind the port, run uvicorn."""

from __future__ import annotations

import gc
import socket
from dataclasses import dataclass

from starlette.applications import Starlette

from ..errors import UndriftError, option
from ..serving.guard import refuse_open_without_token
from ..store import Store
from .app import create_app
from .options import ProxyOptions
from .redact import Redactor


def prepare(options: ProxyOptions, host: str, db: Store | str | None) -> Starlette:
    from ..store import as_store

    refuse_open_without_token(host, options.token, f"give {option('token')} (or $UNDRIFT_PROXY_TOKEN) so that "
                                                   "only callers sending it in Proxy-Authorization are let through")
    redactor = Redactor(options.redact)
    store = as_store(db)
    if store.read_only:
        raise UndriftError(f"the store {store.safe_url} is read-only here, and the proxy writes traffic into it: "
                           f"give {option('db')} where you can write")
    return create_app(options, store, redactor)


BACKLOG = 2048  # uvicorn's default


@dataclass
class Listening:
    """The proxy's socket, bound before uvicorn starts so that the port it got (`--port 0`: any free one) can be
    told; `run` serves on it until a signal stops it."""

    server: object  # uvicorn.Server
    sock: socket.socket

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def run(self) -> None:
        """As `uvicorn.run` does: Ctrl-C ends it quietly, a start-up that failed (the app's lifespan) exits 3.

        Before serving, what start-up made (the imported modules, about 90,000 objects) is moved out of the garbage
        collector's reach (`gc.freeze`): a full collection over it stalls every request in flight for tens of ms,
        the proxy's worst p99 spikes; what requests make is still collected as before."""
        gc.collect()
        gc.freeze()
        try:
            self.server.run(sockets=[self.sock])
        except KeyboardInterrupt:
            pass
        if not self.server.started:
            raise SystemExit(3)


def listen(app: Starlette, host: str, port: int) -> Listening:
    """uvicorn without its own Server and Date headers (the upstream's pass through instead); its HTTP parser is
    httptools where installed (a dependency), which costs a fraction of h11's CPU per request."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", server_header=False, date_header=False,
                            timeout_graceful_shutdown=5)
    return Listening(uvicorn.Server(config), _bind(host, port))


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket made as asyncio's own `create_server` makes it, from `getaddrinfo`, with the protocol
    named (IPPROTO_TCP).  asyncio turns Nagle's algorithm off only on connections from such a socket: with a bare
    `socket.socket()` (uvicorn's `bind_socket`), a response sent as a head and then a body waits for the client's
    delayed ACK, about 40 ms each.  Listening already: callers told the port can connect before uvicorn runs."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(BACKLOG)  # connecting works from here on (they wait for uvicorn to accept), so the port is told now
    except OSError as problem:
        sock.close()
        raise UndriftError(f"cannot listen on {host}:{port}: {problem.strerror or problem}; give another "
                           f"{option('port')} (0: any free one)") from None
    return sock
