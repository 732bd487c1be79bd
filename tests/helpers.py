"""Plain functions and classes the tests share (fixtures live in conftest.py): the real CLI in a subprocess, free
ports, rows and runs written straight into a store, an ASGI app served on 127.0.0.1, and the paths of the
example suite and the shared data.  Test files import from here, never from each other."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import uvicorn

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
ARTIFACTS = REPO / "tests" / "artifacts"  # screenshots of the dashboard for a person to look at (gitignored)
EXAMPLE = REPO / "docs" / "examples" / "support.yaml"
# The LLMDrift generations (shared/data beside the checkout or in it); tests that need them skip when it is missing.
GENERATION = next((root / "shared" / "data" / "llmdrift" / "generation" for root in (REPO, REPO.parent)
                   if (root / "shared" / "data" / "llmdrift").is_dir()), REPO / "missing")


def cli_argv(*args: str, prelude: str | None = None) -> list[str]:
    """The command line that starts the CLI with `args`; `prelude` is Python run first in that process (to hide a
    module, say), which `python -m undrift.cli` cannot do."""
    if prelude is None:
        return [sys.executable, "-m", "undrift.cli", *args]
    code = f"import sys; {prelude}; from undrift.cli import main; sys.argv = ['undrift'] + {list(args)!r}; main()"
    return [sys.executable, "-c", code]


def cli_env(env: Mapping[str, str] | None = None, python_path: Sequence[Path] = ()) -> dict[str, str]:
    """The environment for a CLI subprocess: this one (already isolated by conftest), with `python_path` (plugin
    folders) and this checkout's src on PYTHONPATH, so it runs this checkout's code, then `env` on top."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (*python_path, SRC)), **(env or {})}


def undrift(*args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 300,
            python_path: Sequence[Path] = (), prelude: str | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess in `cwd` and return what it did (exit code, stdout and stderr as text)."""
    return subprocess.run(cli_argv(*args, prelude=prelude), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=cli_env(env, python_path))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port}")


QUIZ_SUITE = """\
name: quiz
tasks:
- name: facts
  scorer: exact
  samples:
  - {id: sum, prompt: "What is 2+2?", target: "4"}
  - {id: capital, prompt: "What is the capital of France?", target: "Paris"}
  - {id: sky, prompt: "What colour is the sky?", target: "blue"}
"""
"""A three-sample suite for tests about the tool, not the model (scripted models answer it)."""


def result_row(task: str, sample_id: str, correct: bool | None, *, value: float | None = None, extracted=None,
               response: str = "", prompt: str | None = None, slices=(), details=None, repeat: int = 0,
               target=None, latency_s: float = 0.1, tokens_out: int = 5) -> dict:
    """A stored result row as the runner writes it, for tests of the analysis that need exact, known outcomes."""
    return dict(
        task=task, sample_id=sample_id, repeat=repeat, slices=list(slices),
        messages=[{"role": "user", "content": prompt or f"question {task}/{sample_id}"}], target=target,
        response=response, variants=[], extracted=extracted,
        value=float(value if value is not None else bool(correct)), correct=correct, details=details or {},
        latency_s=latency_s, tokens_in=3, tokens_out=tokens_out, finish_reason="stop", system_fingerprint=None,
        cache_key=None, cached=False, error=None,
    )


def store_run(store, name: str, rows: list[dict], suite: str = "unit", created_at=None, fingerprint=None,
              model_spec: str | None = None):
    """Write a finished run straight into the store (the same call `undrift import` makes)."""
    from datetime import datetime, timezone

    fields = dict(name=name, suite=suite, suite_source="test", suite_digest="0" * 64, model_spec=model_spec or f"test:{name}",
                  fingerprint=fingerprint or {"backend": "test", "served_model": name},
                  config={"tasks": sorted({r["task"] for r in rows}), "repeats": 1},
                  created_at=created_at or datetime.now(timezone.utc))
    return store.add_complete_runs([(fields, rows)])[0]


class ServerThread:
    """An ASGI app served by uvicorn on a free 127.0.0.1 port in a thread; entering gives its /v1 base URL."""

    def __init__(self, app):
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        wait_for_port(self.port)
        return f"http://127.0.0.1:{self.port}/v1"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_TASK = "<img src=x onerror=alert(2)>"


def dashboard_store(path: Path):
    """A store for the dashboard's tests, written straight in: `steady` (always right: green, aliased as
    `production`), `drifty` (right, right, right, then mostly wrong: a change point at its newest run, and an open
    alert on its watch: red) and a model and task named with markup, whose answers hold markup too."""
    from datetime import datetime, timedelta, timezone

    import undrift
    from undrift.monitor.alerts import REGRESSION, raise_alert
    from undrift.monitor.ticks import start_tick

    store = undrift.Store.open(f"sqlite:///{path}")
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for day, right in enumerate([40, 40, 40, 10]):
        store_run(store, "drifty", [result_row("facts", f"s{j}", j < right) for j in range(40)],
                  created_at=start + timedelta(days=day))
    for day in range(3):
        store_run(store, "steady", [result_row("facts", f"s{j}", True) for j in range(40)],
                  created_at=start + timedelta(days=day))
    for day in range(2):
        store_run(store, HOSTILE_NAME, [result_row(HOSTILE_TASK, f"s{j}", j % 2 == 0, response=HOSTILE_TASK)
                                        for j in range(10)], created_at=start + timedelta(days=day))
    registry = undrift.Registry(store)
    registry.register("steady", "test:steady", kind="run")
    registry.set_alias("production", "steady")
    undrift.add_watch("drifty", "openai:m@http://127.0.0.1:9/v1", "drift", "1d", tasks=["primes"], db=store)
    raise_alert(store, "drifty", REGRESSION, start_tick(store, "drifty").id, "accuracy fell on facts", {})
    return store
