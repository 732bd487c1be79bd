"""An OpenAI-compatible chat-completions server for a local model: the private instance a team runs itself.

`/v1/models` and `/v1/chat/completions` (plain and streaming, server-sent events) as the official `openai` client
expects them.  Every response carries a `system_fingerprint` derived from the model's fingerprint, so a watcher can see
when the weights, adapter or hidden options behind the endpoint change.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from .models.base import Decoding, Model, Request


class ChatMessage(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=8192)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    n: int = Field(default=1, ge=1, le=1)


def create_app(model: Model, model_id: str) -> FastAPI:
    app = FastAPI(title="undrift model server")
    fingerprint = "fp_" + model.fingerprint().digest()[:12]

    def to_request(body: ChatRequest) -> Request:
        stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
        decoding = Decoding(
            max_tokens=body.max_completion_tokens or body.max_tokens or 256,
            temperature=body.temperature,
            top_p=body.top_p,
            stop=stop,
            seed=body.seed,
        )
        return Request.chat([m.model_dump() for m in body.messages], decoding)

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_id, "object": "model", "created": 0, "owned_by": "undrift"}]}

    @app.post("/v1/chat/completions")
    def chat(body: ChatRequest):
        if body.model and body.model != model_id:
            raise HTTPException(status_code=404, detail=f"model {body.model!r} is not served here; use {model_id!r}")
        request = to_request(body)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if body.stream:
            return StreamingResponse(_stream(model, request, completion_id, created, model_id, fingerprint),
                                     media_type="text/event-stream")
        generation = model.generate([request])[0]
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model_id,
            "system_fingerprint": fingerprint,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": generation.text},
                         "finish_reason": generation.finish_reason, "logprobs": None}],
            "usage": {"prompt_tokens": generation.tokens_in, "completion_tokens": generation.tokens_out,
                      "total_tokens": generation.tokens_in + generation.tokens_out},
        }

    return app


def _stream(model: Model, request: Request, completion_id: str, created: int, model_id: str, fingerprint: str):
    def chunk(delta: dict[str, str], finish: str | None) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model_id,
                "system_fingerprint": fingerprint,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""}, None)
    for piece in model.stream(request):
        yield chunk({"content": piece}, None)
    yield chunk({}, "stop")
    yield "data: [DONE]\n\n"
