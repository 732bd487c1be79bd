"""Model backends.  `load_model` turns a spec into a loaded `Model`."""

from __future__ import annotations

from .base import Decoding, Fingerprint, Generation, Model, ModelSpec, Request


def load_model(spec: ModelSpec | str) -> Model:
    """Load a model from its spec; fails with an `UndriftError` if the files or server are not there."""
    spec = ModelSpec.parse(spec) if isinstance(spec, str) else spec
    if spec.backend == "openai":
        from .openai_api import OpenAIModel

        return OpenAIModel(spec)
    from .local import load_local_model

    return load_local_model(spec)


__all__ = ["Decoding", "Fingerprint", "Generation", "Model", "ModelSpec", "Request", "load_model"]
