"""Model backends.  `load_model` turns a spec into a loaded `Model`."""

from __future__ import annotations

from .base import Decoding, Fingerprint, Generation, Model, ModelSpec, Request


def load_model(spec: ModelSpec | str, lazy: bool = False) -> Model:
    """Load a model from its spec; fails with an `UndriftError` if the files or server are not there.

    `lazy=True` checks and fingerprints the model but defers loading weights until `prepare()` or the first
    generation; the runner calls `prepare()` before it writes anything, and skips it when the cache has every answer.
    """
    spec = ModelSpec.parse(spec) if isinstance(spec, str) else spec
    if spec.backend == "openai":
        from .openai_api import OpenAIModel

        return OpenAIModel(spec)
    from .local import load_local_model

    return load_local_model(spec, lazy=lazy)


__all__ = ["Decoding", "Fingerprint", "Generation", "Model", "ModelSpec", "Request", "load_model"]
