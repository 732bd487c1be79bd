"""Starting `undrift serve`: refuse an open address without a token, name and register the model, run uvicorn so
that SIGTERM stops it promptly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from ..errors import UndriftError
from ..models import ModelSpec, backend_of, require
from .app import ServeOptions, create_app
from .guard import refuse_open_without_token


@dataclass(frozen=True)
class Served:
    app: FastAPI
    model_id: str
    display: str


def default_model_id(spec: ModelSpec) -> str:
    """The plain id clients send (`smollm2`, a model folder's name), as hosted APIs name their models; the backend
    says what it is (`Backend.model_id`)."""
    base = backend_of(spec).model_id(spec)
    return f"{base}+{Path(spec.lora).name}" if spec.lora else base


def prepare(spec_text: str, host: str, name: str | None, db: str | None, options: ServeOptions) -> Served:
    """Check the address and token, register the served version under its id, load the model, build the app."""
    from ..models import load_model
    from ..registry import Registry
    from ..store import Store

    refuse_open_without_token(host, options.token, "give --token (or $UNDRIFT_SERVE_TOKEN) so that only clients "
                                                   "sending it as their API key are served")
    spec = ModelSpec.parse(spec_text)
    require(spec, "servable", "`undrift serve`")
    model_id = name or default_model_id(spec)
    app = create_app(load_model(spec), model_id, options, aliases=(str(spec), spec.display()))
    registry = Registry(Store.open(db))  # only once the model has loaded: a bad spec leaves no store behind
    known = registry.find(model_id)
    if known is not None and known.spec != str(spec):
        raise UndriftError(f"the name {model_id!r} is registered for {known.spec}: give --name with another id")
    registry.ensure(model_id, str(spec), "served")
    return Served(app, model_id, spec.display())


def run(app: FastAPI, host: str, port: int) -> None:
    """uvicorn, but SIGTERM and Ctrl-C end the generations in flight at once, so its graceful shutdown does not wait
    on a long answer; whatever still hangs on is cut after a few seconds."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            app.state.engine.stop(timeout=0)
            super().handle_exit(sig, frame)

    Server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)).run()
