"""Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, for every failure the server returns.

OpenAI clients read `error.message` (and raise by status: 400 BadRequestError, 401 AuthenticationError, 404
NotFoundError, ...); FastAPI's own `{"detail": ...}` bodies would reach their users as an unreadable dict, so the
validation, routing and HTTP errors FastAPI raises are reshaped here too.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request as HttpRequest

TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
         405: "invalid_request_error", 413: "invalid_request_error", 503: "server_error"}


class ApiError(Exception):
    """A request the server refuses, with the status and the OpenAI error fields to answer with."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict:
        return error_body(self.status, self.message, self.param, self.code)

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": TYPES.get(status, "server_error" if status >= 500 else
                                                            "invalid_request_error"),
                      "param": param, "code": code}}


def unsupported(field: str, why: str) -> ApiError:
    return ApiError(400, f"`{field}` is not supported by undrift serve: {why}", param=field, code="unsupported_parameter")


def install(app: FastAPI) -> None:
    """Answer FastAPI's validation and HTTP errors (unknown routes, wrong methods) in OpenAI's shape."""

    @app.exception_handler(ApiError)
    async def api_error(_: HttpRequest, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(_: HttpRequest, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc.errors()).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: HttpRequest, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"unknown request URL: {request.method} {request.url.path}"
            return ApiError(404, message, code="unknown_url").response()
        return ApiError(exc.status_code, str(exc.detail)).response()


def validation_error(errors) -> ApiError:
    """The first pydantic error as one sentence naming the field (`messages[0].content`), as OpenAI names it."""
    first = list(errors)[0]
    location = [part for part in first.get("loc", ()) if part not in ("body",)]
    param = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location).lstrip(".") or None
    if first.get("type") == "extra_forbidden":
        return ApiError(400, f"unrecognised request argument supplied: {param}", param=param,
                        code="unknown_parameter")
    if first.get("type") == "json_invalid":
        return ApiError(400, "the request body is not valid JSON", code="invalid_json")
    message = first.get("msg", "invalid request")
    return ApiError(400, f"invalid value for {param}: {message}" if param else message, param=param,
                    code="invalid_value")
