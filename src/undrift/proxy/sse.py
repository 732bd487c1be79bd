"""A streamed chat or text completion (server-sent events) put back together as the one completion it stands for,
and the moment its first token arrived.

Fed chunk by chunk as the bytes pass through, so the proxy never holds a stream back; events split across chunks
are joined here.  Chunks that are not JSON (a keep-alive comment, a broken event) are skipped, never fatal.  Each
chunk costs time in proportion to itself only (the buffer is searched from where the last search ended), and what is
kept is bounded: an event over `MAX_EVENT_BYTES` is skipped, and text beyond `MAX_TEXT_CHARS` is left out of the
record (which says `truncated`), while the stream itself still passes through whole.
"""

from __future__ import annotations

import json
import time
from typing import Any


MAX_EVENT_BYTES = 1_000_000
MAX_TEXT_CHARS = 4_000_000


class StreamAssembler:
    def __init__(self) -> None:
        self.first_token_at: float | None = None  # time.perf_counter() when the first non-empty delta arrived
        self.truncated = False
        self._buffer = bytearray()
        self._searched = 0  # the buffer before this offset holds no event separator
        self._skipping = False  # inside an event too large to keep: drop bytes until its end
        self._text_chars = 0
        self._head: dict[str, Any] = {}
        self._choices: dict[int, dict[str, Any]] = {}
        self._usage: Any = None
        self._events = 0

    def feed(self, data: bytes) -> None:
        self._buffer.extend(data)
        while True:
            end, width = self._separator()
            if end < 0:
                break
            event = bytes(self._buffer[:end]).replace(b"\r\n", b"\n")
            del self._buffer[:end + width]
            self._searched = 0
            if self._skipping:
                self._skipping = False
                continue
            payload = b"\n".join(line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:"))
            if payload and payload != b"[DONE]":
                self._take(payload)
        self._searched = max(0, len(self._buffer) - 3)  # a separator may straddle the next chunk
        if len(self._buffer) > MAX_EVENT_BYTES:
            self._buffer.clear()
            self._searched, self._skipping, self.truncated = 0, True, True

    def _separator(self) -> tuple[int, int]:
        """Where the next blank line (LF LF or CRLF CRLF) starts in the buffer, and its width; -1 when none."""
        found = [(i, w) for i, w in ((self._buffer.find(b"\n\n", self._searched), 2),
                                     (self._buffer.find(b"\r\n\r\n", self._searched), 4)) if i >= 0]
        return min(found) if found else (-1, 0)

    def _take(self, payload: bytes) -> None:
        try:
            chunk = json.loads(payload)
        except (ValueError, RecursionError):
            return
        if not isinstance(chunk, dict):
            return
        self._events += 1
        for key in ("id", "object", "created", "model", "system_fingerprint"):
            if chunk.get(key) is not None:
                self._head[key] = chunk[key]
        if chunk.get("usage") is not None:
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict):
                self._add(choice)

    def _add(self, choice: dict[str, Any]) -> None:
        index = choice.get("index", 0) if isinstance(choice.get("index", 0), int) else 0
        into = self._choices.setdefault(index, {"index": index, "parts": [], "finish_reason": None, "tools": {}})
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        text = delta.get("content") if "delta" in choice else choice.get("text")
        if isinstance(text, str) and text:
            if self._text_chars + len(text) <= MAX_TEXT_CHARS:
                into["parts"].append(text)
                self._text_chars += len(text)
            else:
                self.truncated = True
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
        if isinstance(delta.get("role"), str):
            into["role"] = delta["role"]
        for call in delta.get("tool_calls") or []:
            if isinstance(call, dict):
                self._add_tool_call(into["tools"], call)
        if choice.get("finish_reason") is not None:
            into["finish_reason"] = choice["finish_reason"]

    def _add_tool_call(self, tools: dict[int, dict[str, Any]], call: dict[str, Any]) -> None:
        """Tool calls arrive as fragments: the id and name once, the arguments a piece at a time."""
        index = call.get("index", 0) if isinstance(call.get("index", 0), int) else 0
        into = tools.setdefault(index, {"id": None, "type": "function",
                                                       "function": {"name": "", "arguments": ""}})
        into["id"] = call.get("id") or into["id"]
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        for key in ("name", "arguments"):
            if isinstance(function.get(key), str):
                into["function"][key] += function[key]
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    def completion(self) -> dict[str, Any] | None:
        """The stream as one completion (`chat.completion` or `text_completion`), None when nothing parsed."""
        if not self._events:
            return None
        text_completion = self._head.get("object") == "text_completion"
        choices = []
        for index in sorted(self._choices):
            parts = self._choices[index]
            choice: dict[str, Any] = {"index": index, "finish_reason": parts["finish_reason"]}
            if text_completion:
                choice["text"] = "".join(parts["parts"])
            else:
                choice["message"] = {"role": parts.get("role", "assistant"), "content": "".join(parts["parts"])}
                if parts["tools"]:
                    choice["message"]["tool_calls"] = [parts["tools"][i] for i in sorted(parts["tools"])]
            choices.append(choice)
        head = {**self._head, "object": "text_completion" if text_completion else "chat.completion"}
        completion = {**head, "choices": choices, "usage": self._usage}
        return {**completion, "truncated": True} if self.truncated else completion
