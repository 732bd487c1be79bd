"""Untrusted code is contained: an infinite loop, a fork bomb, a memory hog and a network call all come back."""

import os
import socket
import threading
import time

import pytest

from undrift.sandbox import SandboxLimits, isolation, run_python


def test_normal_code_runs_and_returns_output():
    result = run_python("print(sum(range(10)))")
    assert result.ok and result.stdout.strip() == "45"


def test_infinite_loop_is_stopped_by_the_wall_clock():
    result = run_python("while True:\n    pass", limits=SandboxLimits(wall_s=1.5, cpu_s=30))
    assert result.timed_out and result.wall_s < 10


def test_cpu_time_limit_stops_busy_code():
    result = run_python("while True:\n    pass", limits=SandboxLimits(wall_s=30, cpu_s=1))
    assert not result.ok and result.wall_s < 15


def _processes_of(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except FileNotFoundError:
                pass
    return count


def test_fork_bomb_is_contained_and_cleaned_up():
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    before = _processes_of(65534)
    started = time.perf_counter()
    result = run_python(bomb, limits=SandboxLimits(wall_s=2, cpu_s=5, max_processes=32))
    assert not result.ok and time.perf_counter() - started < 20
    if isolation()["drops_privileges"]:
        deadline = time.time() + 10  # the kernel tears the PID namespace down asynchronously
        while _processes_of(65534) > before and time.time() < deadline:
            time.sleep(0.1)
        assert _processes_of(65534) <= before  # nothing the bomb started survives


def test_memory_hog_fails_inside_the_sandbox():
    result = run_python("x = bytearray(8 * 1024 ** 3)\nprint('allocated')", limits=SandboxLimits(memory_mb=256))
    assert not result.ok and "allocated" not in result.stdout and "MemoryError" in result.stderr


def test_file_size_limit():
    result = run_python("open('big', 'wb').write(b'x' * (64 * 1024 * 1024))\nprint('wrote')",
                        limits=SandboxLimits(file_mb=1))
    assert not result.ok and "wrote" not in result.stdout


def test_network_call_cannot_reach_the_host():
    if not isolation()["network_isolated"]:
        pytest.skip("this OS allows no network namespace for the sandbox")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(3)
    port = server.getsockname()[1]
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(_accept(server)), daemon=True)
    thread.start()
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('connected')"
    result = run_python(code)
    thread.join(5)
    server.close()
    assert "connected" not in result.stdout and not result.ok
    assert accepted == [None]


def _accept(server):
    try:
        connection, _ = server.accept()
        connection.close()
        return "connection"
    except OSError:
        return None


def test_temporary_directory_is_removed():
    result = run_python("import os\nprint(os.getcwd())")
    assert result.ok and not os.path.exists(result.stdout.strip())
