"""A real OpenAI-shaped HTTP server on 127.0.0.1 (stdlib `http.server`, a free port) whose answers a test scripts:
outages (HTTP 500), malformed 200s, slow answers.  Tests switch its behaviour while it runs."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OK_BODY = {"model": "m-1", "usage": {"prompt_tokens": 3, "completion_tokens": 1},
           "choices": [{"message": {"role": "assistant", "content": "[Yes]"}, "finish_reason": "stop"}]}


class ScriptedServer:
    """`chat` and `models` are (status, body) where body is bytes or a JSON-able value (`chat` may also be a function
    of the request body that returns one); `delay_s` slows each chat answer; `fail_prompts` lists prompt substrings
    answered with HTTP 500 whatever `chat` says."""

    def __init__(self, chat=(200, OK_BODY), models=(200, {"data": []}), delay_s: float = 0.0):
        self.chat, self.models, self.delay_s = chat, models, delay_s
        self.fail_prompts: tuple[str, ...] = ()
        self.calls = 0
        script = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._answer(*script.models) if self.path.endswith("/models") else self._answer(404, b"")

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                script.calls += 1
                time.sleep(script.delay_s)
                prompt = "\n".join(str(m.get("content")) for m in body.get("messages") or [])
                if any(p in prompt for p in script.fail_prompts):
                    return self._answer(500, {"error": {"message": "boom"}})
                self._answer(*(script.chat(body) if callable(script.chat) else script.chat))

            def _answer(self, status, body):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "ScriptedServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class WebhookReceiver:
    """A real webhook endpoint on 127.0.0.1 that keeps every JSON body posted to it; `status` scripts its answer."""

    def __init__(self, status: int = 200, trickle: bool = False):
        self.status = status
        self.trickle = trickle  # answer one byte a second, for ever: a client with only read timeouts never returns
        self.received: list[dict] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.attempts += 1
                if receiver.trickle:
                    try:
                        for byte in b"HTTP/1.1 200 OK\r\n" * 100:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(1)
                    except OSError:
                        return
                if receiver.status < 300:
                    receiver.received.append(json.loads(body))
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
