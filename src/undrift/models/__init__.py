"""Model backends.  `load_model` turns a spec into a loaded `Model`; `installed_backends` lists the schemes."""

from __future__ import annotations

from ..plugins import BACKENDS, Installed
from .base import Backend, Decoding, Fingerprint, Generation, Model, ModelSpec, Request


def load_model(spec: ModelSpec | str, lazy: bool = False) -> Model:
    """Load a model from its spec; fails with an `UndriftError` if the files or server are not there.

    `lazy=True` checks and fingerprints the model but defers loading weights until `prepare()` or the first
    generation; the runner calls `prepare()` before it writes anything, and skips it when the cache has every answer.
    The spec's scheme picks the backend from the `undrift.backends` entry points (built-ins and plugins alike).
    """
    spec = ModelSpec.parse(spec) if isinstance(spec, str) else spec
    backend = BACKENDS.get(spec.backend)
    if backend is None:
        raise BACKENDS.unknown(f"backend {spec.backend!r} in model spec {str(spec)!r}")
    return backend.load(spec, lazy)


def installed_backends() -> list[Installed[Backend]]:
    """Every registered backend with the distribution that provides it; a broken plugin carries its problem."""
    return BACKENDS.installed()


__all__ = ["Backend", "Decoding", "Fingerprint", "Generation", "Model", "ModelSpec", "Request", "installed_backends",
           "load_model"]
