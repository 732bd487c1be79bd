"""Run untrusted code (model output) where it can do no harm, and always come back.

Each run gets a fresh temporary directory, its own session and process group, wall-clock, CPU-time, address-space,
file-size, open-file and process-count limits, and no core dumps.  Where the OS allows (root, or unprivileged user
namespaces), it also gets its own network namespace (no network at all, not even the host's loopback) and its own PID
namespace, and as root it runs as `nobody`; killing the sandbox then kills everything it started, fork bombs included.
`isolation()` says which protections this machine provides, so results can be honest about it.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534


@dataclass(frozen=True)
class SandboxLimits:
    wall_s: float = 10.0
    cpu_s: int = 5
    memory_mb: int = 1024
    file_mb: int = 16
    max_processes: int = 64
    max_open_files: int = 64


@dataclass
class SandboxResult:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    wall_s: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def run_python(main: str, files: dict[str, str] | None = None, limits: SandboxLimits = SandboxLimits(),
               env: dict[str, str] | None = None) -> SandboxResult:
    """Run `main` (Python source) in the sandbox with `files` beside it; never raises for what the code does."""
    workdir = Path(tempfile.mkdtemp(prefix="undrift-sandbox-"))
    try:
        (workdir / "main.py").write_text(main, encoding="utf-8")
        for name, content in (files or {}).items():
            (workdir / name).write_text(content, encoding="utf-8")
        output = workdir / ".out"
        output.mkdir()
        as_nobody = os.geteuid() == 0 and isolation()["drops_privileges"]
        if as_nobody:
            for path in [workdir, *workdir.rglob("*")]:
                os.chown(path, NOBODY, NOBODY)
        command = [*_prefix(), sys.executable, "-I", "main.py"]
        child_env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        child_env.update(env or {})
        started = time.perf_counter()
        with open(output / "stdout", "wb") as out, open(output / "stderr", "wb") as err:
            process = subprocess.Popen(
                command,
                cwd=workdir,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                preexec_fn=functools.partial(_limit_child, limits),
            )
            timed_out = False
            try:
                process.wait(timeout=limits.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_group(process)
        wall = time.perf_counter() - started
        read = lambda name: (output / name).read_bytes()[: 1 << 20].decode("utf-8", "replace")  # noqa: E731
        return SandboxResult(process.returncode, read("stdout"), read("stderr"), timed_out, wall)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _limit_child(limits: SandboxLimits) -> None:
    """Runs in the child between fork and exec: new session, resource limits."""
    os.setsid()
    mb = 1024 * 1024
    for limit, value in (
        (resource.RLIMIT_CPU, limits.cpu_s),
        (resource.RLIMIT_AS, limits.memory_mb * mb),
        (resource.RLIMIT_FSIZE, limits.file_mb * mb),
        (resource.RLIMIT_NPROC, limits.max_processes),
        (resource.RLIMIT_NOFILE, limits.max_open_files),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(limit, (value, value))


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the whole process group (and with it the PID namespace), then reap the leader."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _prefix() -> list[str]:
    return list(isolation()["prefix"])


@functools.lru_cache(maxsize=1)
def isolation() -> dict:
    """Probe once which wrapper this machine allows: namespaces for network and PIDs, and dropping to `nobody`."""
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    candidates = []
    if unshare and os.geteuid() == 0:
        base = [unshare, "--net", "--pid", "--fork", "--kill-child"]
        if setpriv:
            candidates.append((base + [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"], True))
        candidates.append((base, False))
    elif unshare:
        candidates.append(([unshare, "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child"], False))
    for prefix, drops in candidates:
        try:
            probe = subprocess.run([*prefix, sys.executable, "-I", "-c", "pass"], capture_output=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return {"prefix": tuple(prefix), "network_isolated": True, "pid_namespace": True, "drops_privileges": drops}
    return {"prefix": (), "network_isolated": False, "pid_namespace": False, "drops_privileges": False}
