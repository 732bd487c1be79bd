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
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import UndriftError
from . import bubblewrap, seccomp

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
    outputs: dict[str, str]  # the files the code left in its output folder (`/sandbox/out`), by name

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
            runs_as = "nobody (dropped from root)" if os.geteuid() == 0 else "the invoking user, mapped to nobody"
            filtered = seccomp.filter_program() is not None
            isolation = Isolation("bubblewrap", bubblewrap.version(bwrap), runs_as, filtered)
            return cls(isolation, bwrap)
        if allow_unsandboxed:
            return cls(Isolation("none"))
        raise UndriftError(
            f"cannot run model code safely: {problem}; install bubblewrap (`apt install bubblewrap`, "
            "`dnf install bubblewrap`; `make` puts a copy in .venv/bin) or pass --allow-unsandboxed to run it "
            "with resource limits only"
        )

    def run_python(self, main: str, files: dict[str, str] | None = None, limits: SandboxLimits = SandboxLimits()
                   ) -> SandboxResult:
        """Run `main` (Python source) with `files` beside it in `/sandbox`; never raises for what the code does."""
        workdir = Path(tempfile.mkdtemp(prefix="undrift-sandbox-"))
        try:
            (workdir / "main.py").write_text(main, encoding="utf-8")
            for name, content in (files or {}).items():
                (workdir / name).write_text(content, encoding="utf-8")
            (workdir / "out").mkdir()
            capture = Path(tempfile.mkdtemp(prefix="undrift-sandbox-capture-"))
            try:
                return self._run(workdir, capture, limits)
            finally:
                shutil.rmtree(capture, ignore_errors=True)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _run(self, workdir: Path, capture: Path, limits: SandboxLimits) -> SandboxResult:
        as_root = os.geteuid() == 0
        if self.isolation.sandboxed and as_root:
            os.chmod(workdir, 0o755)
            os.chown(workdir / "out", bubblewrap.NOBODY, bubblewrap.NOBODY)
        keep: list[int] = []
        info_read = -1
        if self.isolation.sandboxed:
            info_read, info_write = os.pipe()
            filter_fd = seccomp.program_fd()
            keep = [info_write] + ([filter_fd] if filter_fd is not None else [])
            command = bubblewrap.command(self._bwrap, workdir, limits.tmp_mb << 20, filter_fd, info_write, as_root)
            cwd, env = "/", {}
        else:
            command = [sys.executable, "-I", "-S", str(workdir / "main.py")]
            cwd = str(workdir)
            env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        started = time.perf_counter()
        with open(capture / "stdout", "wb") as out, open(capture / "stderr", "wb") as err:
            try:
                process = subprocess.Popen(
                    command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=keep,
                    preexec_fn=functools.partial(_limit_child, limits, as_root and self.isolation.sandboxed),
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
        read = lambda path: path.read_bytes()[: 1 << 20].decode("utf-8", "replace")  # noqa: E731
        outputs = {p.name: read(p) for p in (workdir / "out").iterdir() if p.is_file() and not p.is_symlink()}
        return SandboxResult(process.returncode, read(capture / "stdout"), read(capture / "stderr"), timed_out, wall,
                             outputs)


def _limit_child(limits: SandboxLimits, leave_processes_to_nobody: bool) -> None:
    """Runs in the child between fork and exec: a new session and the resource limits.

    As root the process limit would not bind (the kernel exempts root); it binds `nobody`, whom the sandbox drops to.
    """
    os.setsid()
    mb = 1024 * 1024
    for limit, value in (
        (resource.RLIMIT_CPU, limits.cpu_s),
        (resource.RLIMIT_AS, limits.memory_mb * mb),
        (resource.RLIMIT_FSIZE, limits.file_mb * mb),
        (resource.RLIMIT_NOFILE, limits.max_open_files),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(limit, (value, value))
    owned = 0 if leave_processes_to_nobody else _processes_of(os.getuid())
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes + owned,) * 2)


def _processes_of(uid: int) -> int:
    """How many processes `uid` runs now: the process limit counts them all, so the sandbox's share comes on top."""
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
    result = sandbox.run_python("open('/sandbox/out/ok', 'w').write('ok')", limits=SandboxLimits(wall_s=30))
    if result.outputs.get("ok") == "ok":
        return None
    reason = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
    return f"bubblewrap at {bwrap} cannot start a sandbox here ({reason[:200]})"
