"""Untrusted code is contained: hostile probes, run as root and as an unprivileged user, find nothing to take.

Also the limits: an infinite loop, a fork bomb, a memory hog and a huge file all come back.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from undrift.errors import UndriftError
from undrift.sandbox import CHANNEL_BYTES, Sandbox, SandboxLimits

from sandbox_probes import run_probes

REPO = Path(__file__).resolve().parents[1]
NOBODY = 65534


@pytest.fixture(scope="module")
def sandbox():
    return Sandbox.detect()


@pytest.fixture(scope="module")
def host():
    """Secrets a hostile probe would want, all readable and writable by anyone on the host, so only the sandbox
    can keep them: a store and an SSH key outside /tmp, a shell start-up file, a password on a command line, and a
    listening port on the host's loopback."""
    token = secrets.token_hex(8)
    home = REPO / ".pytest-undrift-cache" / f"probe-home-{token}"
    (home / ".ssh").mkdir(parents=True)
    files = {home / "undrift.db": f"store-{token}", home / ".ssh" / "id_rsa": f"key-{token}",
             home / ".bashrc": "# start-up file\n"}
    for path, text in files.items():
        path.write_text(text)
        path.chmod(0o666)
    for folder in (home.parent, home, home / ".ssh"):
        folder.chmod(0o777)
    password = f"--db-password=pw-{token}"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", password])
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield {"files": [str(p) for p in files], "secrets": [f"store-{token}", f"key-{token}", f"pw-{token}"],
           "port": server.getsockname()[1]}
    server.close()
    holder.kill()
    holder.wait()
    shutil.rmtree(home)


def test_hostile_probes_find_nothing(host):
    outcome = run_probes(host["files"], host["secrets"], host["port"])
    assert outcome == {name: None for name in outcome}


@pytest.mark.skipif(os.geteuid() != 0, reason="the suite already runs unprivileged; this drops root to nobody")
def test_hostile_probes_find_nothing_when_undrift_runs_unprivileged(host):
    done = subprocess.run(_as_nobody([sys.executable, str(REPO / "tests" / "sandbox_probes.py"), json.dumps(host)]),
                          capture_output=True, text=True, timeout=300, cwd="/",
                          env={"PATH": os.environ["PATH"], "PYTHONPATH": f"{REPO / 'src'}:{REPO / 'tests'}",
                               "HOME": "/nonexistent", "UNDRIFT_BWRAP": shutil.which("bwrap") or
                               str(Path(sys.executable).parent / "bwrap")})
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {name: None for name in outcome}


def _as_nobody(command: list[str]) -> list[str]:
    """`command` run as nobody. Where this Python or this checkout lies below a folder nobody may enter (pyenv under
    /root, a clone in a private home), a private mount namespace lays an open folder over it that holds only them."""
    setpriv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
    opened: dict[Path, set[str]] = {}
    for needed in (Path(os.path.realpath(sys.base_prefix)), REPO):
        closed = next((p for p in reversed(needed.parents) if p != Path("/") and not os.stat(p).st_mode & 0o001), None)
        if closed is not None:
            opened.setdefault(closed, set()).add(needed.relative_to(closed).parts[0])
    if not opened:
        return setpriv + command
    steps = ["set -e"]
    for n, (closed, children) in enumerate(sorted(opened.items())):
        for m, child in enumerate(sorted(children)):
            steps.append(f'k{n}_{m}=$(mktemp -d); mount --bind "{closed}/{child}" "$k{n}_{m}"')
        steps.append(f'mount -t tmpfs -o mode=755 none "{closed}"')
        for m, child in enumerate(sorted(children)):
            steps.append(f'mkdir -p "{closed}/{child}"; mount --bind "$k{n}_{m}" "{closed}/{child}"; '
                         f'umount "$k{n}_{m}"; rmdir "$k{n}_{m}"')
    steps.append('exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "; ".join(steps), "sh", *setpriv, *command]


def test_no_sandbox_means_no_code_unless_allowed(monkeypatch, tmp_path):
    monkeypatch.setenv("UNDRIFT_BWRAP", str(tmp_path / "missing-bwrap"))
    with pytest.raises(UndriftError, match="--allow-unsandboxed"):
        Sandbox.detect()
    unsafe = Sandbox.detect(allow_unsandboxed=True)
    assert not unsafe.isolation.sandboxed and "without isolation" in unsafe.isolation.describe()
    assert unsafe.run_python("print(6 * 7)").stdout.strip() == "42"


def test_normal_code_runs_and_returns_output(sandbox):
    result = sandbox.run_python("print(sum(range(10)))")
    assert result.ok and result.stdout.strip() == "45"
    assert sandbox.isolation.sandboxed and "bubblewrap" in sandbox.isolation.describe()


def test_infinite_loop_is_stopped_by_the_wall_clock(sandbox):
    result = sandbox.run_python("while True:\n    pass", limits=SandboxLimits(wall_s=1.5, cpu_s=30))
    assert result.timed_out and result.wall_s < 10


def test_cpu_time_limit_stops_busy_code(sandbox):
    result = sandbox.run_python("while True:\n    pass", limits=SandboxLimits(wall_s=30, cpu_s=1))
    assert not result.ok and result.wall_s < 15


def _processes() -> int:
    return sum(1 for entry in os.listdir("/proc") if entry.isdigit())


def test_fork_bomb_is_contained_and_cleaned_up(sandbox):
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    before = _processes()
    started = time.perf_counter()
    result = sandbox.run_python(bomb, limits=SandboxLimits(wall_s=2, cpu_s=5, max_processes=32))
    assert not result.ok and time.perf_counter() - started < 20
    deadline = time.time() + 10  # the kernel tears the PID namespace down asynchronously
    while _processes() > before + 5 and time.time() < deadline:
        time.sleep(0.1)
    assert _processes() <= before + 5  # nothing the bomb started survives


def test_memory_hog_fails_inside_the_sandbox(sandbox):
    result = sandbox.run_python("x = bytearray(8 * 1024 ** 3)\nprint('allocated')", limits=SandboxLimits(memory_mb=256))
    assert not result.ok and "allocated" not in result.stdout and "MemoryError" in result.stderr


def test_file_size_limit(sandbox):
    result = sandbox.run_python("open('big', 'wb').write(b'x' * (64 * 1024 * 1024))\nprint('wrote')",
                                limits=SandboxLimits(file_mb=1))
    assert not result.ok and "wrote" not in result.stdout


def test_code_gets_a_writable_tmp_and_a_channel_back(sandbox):
    code = ("import os, tempfile\nopen('/tmp/scratch', 'w').write('x')\nopen('here', 'w').write('y')\n"
            "tempfile.mkdtemp()\nos.write(int(os.environ['UNDRIFT_CHANNEL']), b'done')")
    result = sandbox.run_python(code)
    assert result.ok and result.channel == "done", result.stderr


def test_the_channel_back_is_capped_and_nothing_is_left_on_the_host(sandbox):
    before = set(os.listdir("/tmp"))
    flood = ("import os\nfd = int(os.environ['UNDRIFT_CHANNEL'])\nfor _ in range(400):\n"
             "    os.write(fd, b'x' * (1 << 20))")
    result = sandbox.run_python(flood, limits=SandboxLimits(wall_s=20, cpu_s=10))
    assert len(result.channel) == CHANNEL_BYTES
    assert not {n for n in set(os.listdir("/tmp")) - before if n.startswith("undrift-sandbox")}


def test_a_lone_surrogate_in_model_output_is_not_a_crash(sandbox):
    assert sandbox.run_python("print('ok')  # \ud800").stdout.strip() == "ok"


def test_concurrent_sandboxes_do_not_share_a_process_limit(sandbox):
    """A neighbour holding its whole process allowance does not starve an honest run beside it (as root each run
    has a uid of its own)."""
    if os.geteuid() != 0:
        pytest.skip("an unprivileged user's process limit counts all of that user's processes")
    hog = ("import os, time\nfor _ in range(40):\n    try:\n        if os.fork() == 0:\n            time.sleep(8)\n"
           "            os._exit(0)\n    except OSError:\n        break\ntime.sleep(8)")
    with ThreadPoolExecutor(2) as pool:
        hogging = pool.submit(sandbox.run_python, hog, None, SandboxLimits(wall_s=4, max_processes=16))
        time.sleep(1.5)
        honest = sandbox.run_python("import threading\nt = threading.Thread(target=print, args=('ok',))\n"
                                    "t.start()\nt.join()", limits=SandboxLimits(max_processes=16))
        hogging.result()
    assert honest.ok and honest.stdout.strip() == "ok", honest.stderr
