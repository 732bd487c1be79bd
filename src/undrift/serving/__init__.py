"""`undrift serve`: a local model behind an OpenAI-compatible HTTP API, batched, cancellable and guarded.

launch (checks, naming, uvicorn), app (routes), batching (the engine that steps every request in flight together),
schema (request bodies and what is refused), responses (OpenAI's body shapes), errors (OpenAI's error shape),
guard (token, body size).
"""

from .app import ServeOptions, create_app
from .launch import default_model_id, prepare, run

__all__ = ["ServeOptions", "create_app", "default_model_id", "prepare", "run"]
