"""Run untrusted code (model output) where it can do no harm, and always come back.

Code runs under bubblewrap (see `bubblewrap.py` for exactly what it can see and do) with wall-clock, CPU-time,
address-space, file-size, open-file and process-count limits and no core dumps; killing the sandbox's first process
ends its PID namespace, so nothing it started outlives it, fork bombs included.  Where bubblewrap cannot run, code
runs only when the caller says so (`allow_unsandboxed`, the CLI's `--allow-unsandboxed`), and then only with those
limits: the isolation actually used is recorded with every run that executes code.
"""

from __future__ import annotations

import functools
import json
import os
import random
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import UndriftError, option
from . import bubblewrap, seccomp

CHANNEL_BYTES = 2 << 20
UNSANDBOXED = "none: code ran without isolation, with resource limits only (--allow-unsandboxed)"


@dataclass(frozen=True)
class SandboxLimits:
    wall_s: float = 10.0
    cpu_s: int = 5
    memory_mb: int = 1024
    file_mb: int = 16
    tmp_mb: int = 64
    max_processes: int = 64
    max_open_files: int = 64


@dataclass
class SandboxResult:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    wall_s: float
    channel: str  # what the code wrote to the file descriptor `$UNDRIFT_CHANNEL` names (up to CHANNEL_BYTES)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


@dataclass(frozen=True)
class Isolation:
    """What protects the host while untrusted code runs; `describe()` is what a run records and `show` prints."""

    engine: str  # "bubblewrap" or "none"
    version: str | None = None
    runs_as: str | None = None
    seccomp: bool = False

    @property
    def sandboxed(self) -> bool:
        return self.engine == "bubblewrap"

    def describe(self) -> str:
        if not self.sandboxed:
            return UNSANDBOXED
        filters = ", seccomp filter" if self.seccomp else ", no seccomp filter (pyseccomp/libseccomp missing)"
        return (f"bubblewrap {self.version}: read-only /usr and Python, private /tmp, no home, no network, "
                f"own PIDs, no new privileges{filters}; runs as {self.runs_as}")


class Sandbox:
    """Where code runs. `Sandbox.detect()` finds bubblewrap or, only if allowed, runs without it."""

    def __init__(self, isolation: Isolation, bwrap: str | None = None):
        self.isolation = isolation
        self._bwrap = bwrap

    @classmethod
    def detect(cls, allow_unsandboxed: bool = False) -> "Sandbox":
        bwrap = bubblewrap.find_bwrap()
        problem = _bwrap_problem(bwrap) if bwrap else "bubblewrap (bwrap) is not installed"
        if problem is None:
            runs_as = ("an unused uid of its own (dropped from root)" if os.geteuid() == 0
                       else "the invoking user, mapped to nobody")
            filtered = seccomp.filter_program() is not None
            isolation = Isolation("bubblewrap", bubblewrap.version(bwrap), runs_as, filtered)
            return cls(isolation, bwrap)
        if allow_unsandboxed:
            return cls(Isolation("none"))
        raise UndriftError(
            f"cannot run model code safely: {problem}; install bubblewrap (`apt install bubblewrap`, "
            f"`dnf install bubblewrap`; `make` puts a copy in .venv/bin) or pass {option('allow_unsandboxed', True)} "
            "to run it with resource limits only"
        )

    def run_python(self, main: str, files: dict[str, str] | None = None, limits: SandboxLimits = SandboxLimits()
                   ) -> SandboxResult:
        """Run `main` (Python source) with `files` beside it in `/sandbox`; never raises for what the code does.

        The code can write no host folder. What it has to say goes to the file descriptor named by
        `$UNDRIFT_CHANNEL` (a pipe, read here up to CHANNEL_BYTES) and to stdout and stderr (kept up to 1 MB each).
        """
        workdir = Path(tempfile.mkdtemp(prefix="undrift-sandbox-"))
        try:
            for name, content in {"main.py": main, **(files or {})}.items():
                (workdir / name).write_text(content, encoding="utf-8", errors="replace")  # lone surrogates too
            return self._run(workdir, limits)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)  # only undrift wrote here: the sandbox saw it read-only

    def _run(self, workdir: Path, limits: SandboxLimits) -> SandboxResult:
        as_root = os.geteuid() == 0
        channel_read, channel_write = os.pipe()
        keep = [channel_write]
        info_read = -1
        drop_to = random.choice(bubblewrap.UNUSED_UIDS) if as_root else None
        if self.isolation.sandboxed:
            os.chmod(workdir, 0o755)
            info_read, info_write = os.pipe()
            filter_fd = seccomp.program_fd()
            keep += [info_write] + ([filter_fd] if filter_fd is not None else [])
            command = bubblewrap.command(self._bwrap, workdir, limits.tmp_mb << 20, filter_fd, info_write,
                                         channel_write, drop_to)
            cwd, env = "/", {}
        else:
            command = [sys.executable, "-I", "-S", str(workdir / "main.py")]
            cwd = str(workdir)
            env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
                   "UNDRIFT_CHANNEL": str(channel_write)}
        started = time.perf_counter()
        channel = _CappedReader(channel_read, CHANNEL_BYTES)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                process = subprocess.Popen(
                    command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=keep,
                    preexec_fn=functools.partial(_limit_child, limits, self.isolation.sandboxed and as_root),
                )
            finally:
                for fd in keep:
                    os.close(fd)
            leader = _sandbox_leader(info_read, limits.wall_s) if info_read >= 0 else None
            timed_out = False
            try:
                process.wait(timeout=max(0.0, limits.wall_s - (time.perf_counter() - started)))
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill(process, leader)
            wall = time.perf_counter() - started
            return SandboxResult(process.returncode, _head(out), _head(err), timed_out, wall, channel.text())


def _head(handle, limit: int = 1 << 20) -> str:
    handle.seek(0)
    return handle.read(limit).decode("utf-8", "replace")


class _CappedReader:
    """Drains a pipe in a thread so the writer never blocks, keeping at most `cap` bytes."""

    def __init__(self, fd: int, cap: int):
        self._fd, self._cap, self._chunks, self._kept = fd, cap, [], 0
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while chunk := os.read(self._fd, 1 << 16):
                if self._kept < self._cap:
                    self._chunks.append(chunk[: self._cap - self._kept])
                    self._kept += len(self._chunks[-1])
        finally:
            os.close(self._fd)

    def text(self) -> str:
        """What was written, once every writer is gone (the sandbox is dead by now, so that is soon)."""
        self._thread.join(timeout=10)
        return b"".join(self._chunks).decode("utf-8", "replace")


def _limit_child(limits: SandboxLimits, drops_to_unused_uid: bool) -> None:
    """Runs in the child between fork and exec: a new session and the resource limits.

    As root the process limit would not bind (the kernel exempts root); it binds the unused uid the sandbox drops to,
    which runs nothing else.  Anyone else's limit counts all their processes, so the sandbox's share comes on top.
    """
    os.setsid()
    # Count first and limit the address space last: this child is a fork of the caller, whose address space (torch
    # and all) may already exceed the limit, so once it is set any allocation here (a list of /proc) can fail.
    try:
        owned = 0 if drops_to_unused_uid else _processes_of(os.getuid())
    except Exception:  # noqa: BLE001 - between fork and exec nothing may fail: count none, the limit only tightens
        owned = 0
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes + owned,) * 2)
    mb = 1024 * 1024
    for limit, value in (
        (resource.RLIMIT_CPU, limits.cpu_s),
        (resource.RLIMIT_FSIZE, limits.file_mb * mb),
        (resource.RLIMIT_NOFILE, limits.max_open_files),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_AS, limits.memory_mb * mb),
    ):
        resource.setrlimit(limit, (value, value))


def _processes_of(uid: int) -> int:
    """How many processes `uid` runs now."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                pass
    return count


def _sandbox_leader(info_read: int, wait_s: float) -> int | None:
    """The host PID of the sandbox's first process (bubblewrap's `--info-fd`): killing it ends the PID namespace."""
    try:
        ready, _, _ = select.select([info_read], [], [], wait_s)
        text = b""
        while ready:
            chunk = os.read(info_read, 4096)
            if not chunk:
                break
            text += chunk
            ready, _, _ = select.select([info_read], [], [], 1.0)
        return int(json.loads(text)["child-pid"]) if text else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    finally:
        os.close(info_read)


def _kill(process: subprocess.Popen, leader: int | None) -> None:
    """Kill the PID namespace (through its first process) and bubblewrap's process group, then reap."""
    for kill in (lambda: leader and os.kill(leader, signal.SIGKILL), lambda: os.killpg(process.pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass
    process.wait()


@functools.lru_cache(maxsize=4)
def _bwrap_problem(bwrap: str) -> str | None:
    """Why bubblewrap cannot run here (tried once per process), or None when it can."""
    sandbox = Sandbox(Isolation("bubblewrap"), bwrap)
    result = sandbox.run_python("import os\nos.write(int(os.environ['UNDRIFT_CHANNEL']), b'ok')",
                                limits=SandboxLimits(wall_s=30))
    if result.channel == "ok":
        return None
    reason = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
    return f"bubblewrap at {bwrap} cannot start a sandbox here ({reason[:200]})"
