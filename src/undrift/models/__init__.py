"""Model backends.  `load_model` turns a spec into a loaded `Model`; `require` checks that a backend can do what a
command needs of it (serve, train); `installed_backends` lists the schemes."""

from __future__ import annotations

from typing import Literal

from ..errors import UndriftError
from ..plugins import BACKENDS, Installed, reason
from .base import (
    Backend,
    Decoding,
    Fingerprint,
    Generation,
    Model,
    ModelSpec,
    Request,
    ServableModel,
    TrainableModel,
)

Capability = Literal["servable", "trainable"]
NEEDS = {"servable": "a local model whose weights it can run", "trainable": "a local model whose weights it can train"}


def backend_of(spec: ModelSpec) -> Backend:
    """The backend a spec's scheme names (built-in or plugin)."""
    backend = BACKENDS.get(spec.backend)
    if backend is None:
        raise BACKENDS.unknown(f"backend {spec.backend!r} in model spec {str(spec)!r}")
    return backend


def require(spec: ModelSpec, capability: Capability, who: str) -> Backend:
    """The spec's backend, if it declares `capability` (a field of `Backend`); otherwise one line that says `who`
    (e.g. "`undrift serve`") cannot use it and which installed backends it can use, before anything loads."""
    backend = backend_of(spec)
    if getattr(backend, capability):
        return backend
    able = sorted(f"{entry.name}:" for entry in BACKENDS.installed()
                  if entry.value is not None and getattr(entry.value, capability))
    among = ", ".join(able[:-1]) + f" or {able[-1]}" if len(able) > 1 else "".join(able) or "none is installed"
    raise UndriftError(f"{who} needs {NEEDS[capability]}, from {among}; {spec.backend}: is not one "
                       f"({backend.description})")


def load_model(spec: ModelSpec | str, lazy: bool = False) -> Model:
    """Load a model from its spec; fails with an `UndriftError` if the files or server are not there.

    `lazy=True` checks and fingerprints the model but defers loading weights until `prepare()` or the first
    generation; the runner calls `prepare()` before it writes anything, and skips it when the cache has every answer.
    The spec's scheme picks the backend from the `undrift.backends` entry points (built-ins and plugins alike).
    """
    spec = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    backend = backend_of(spec)
    try:
        return backend.load(spec, lazy)
    except UndriftError:
        raise
    except Exception as exc:  # a backend's own fault (a plugin's bug, a broken install): one line naming it
        raise cannot_load(spec, exc) from None


def cannot_load(spec: ModelSpec, exc: Exception) -> UndriftError:
    """The error for a backend whose own code failed to load a model (in `load` or, lazily, in `prepare`)."""
    return UndriftError(f"{BACKENDS.culprit(spec.backend)} could not load {str(spec)!r} ({reason(exc)}): check the "
                        "spec and the model's files, else report it to that package's authors")


def installed_backends() -> list[Installed[Backend]]:
    """Every registered backend with the distribution that provides it; a broken plugin carries its problem."""
    return BACKENDS.installed()


__all__ = ["Backend", "Capability", "Decoding", "Fingerprint", "Generation", "Model", "ModelSpec", "Request",
           "ServableModel", "TrainableModel", "backend_of", "cannot_load", "installed_backends", "load_model",
           "require"]
