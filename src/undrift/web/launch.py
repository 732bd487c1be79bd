"""Starting `undrift ui`: refuse an address beyond localhost without a token before the store is touched, build the
app, bind the port (so that `--port 0` can tell the one it got) and say where to open it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import option
from ..proxy.launch import Listening, listen
from ..serving.guard import refuse_open_without_token
from ..store import Store


@dataclass(frozen=True)
class Dashboard:
    listening: Listening
    url: str  # where to open it; with the made-up token when none was given (writes need it)

    def run(self) -> None:
        self.listening.run()


def listen_ui(host: str = "127.0.0.1", port: int = 8800, *, db: Store | str | Path | None = None,
              token: str | None = None) -> Dashboard:
    from .app import create_app

    refuse_open_without_token(host, token, f"give {option('token')} (or $UNDRIFT_UI_TOKEN); the dashboard then "
                                           "asks every visitor for it")
    app = create_app(db, token, warm=True)
    listening = listen(app, host, port)
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{listening.port}/"
    url = base + "?token=TOKEN (your --token)" if token else f"{base}?token={app.state.token}"
    return Dashboard(listening, url)
