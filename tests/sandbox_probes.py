"""Hostile probes of the sandbox: each is code a model might write, and what the host must see afterwards.

Run in-process by tests/test_sandbox.py, and as a script (`python tests/sandbox_probes.py SETUP_JSON`) under an
unprivileged user, so the same probes cover undrift started by root and by anyone else.  The script prints one JSON
object: probe name -> null when the sandbox held, or what went wrong.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Each probe prints a line starting FAIL for what it managed to do; any secret it prints is caught as well.
PROBES: dict[str, str] = {
    "reads /etc/passwd": "print('FAIL', open('/etc/passwd').read()[:60])",
    "sees other processes and their command lines": (
        "import os\n"
        "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "if len(pids) > 3:\n"
        "    print('FAIL saw', len(pids), 'processes')\n"
        "for pid in pids:\n"
        "    try:\n"
        "        print(open(f'/proc/{pid}/cmdline', 'rb').read().decode(errors='replace'))\n"
        "    except OSError:\n"
        "        pass\n"),
    "reads a store and secrets outside /tmp": (
        "for path in SECRET_FILES:\n"
        "    try:\n"
        "        print('FAIL', open(path).read())\n"
        "    except OSError:\n"
        "        pass\n"),
    "appends to a shell start-up file": (
        "for path in SECRET_FILES:\n"
        "    if path.endswith('.bashrc'):\n"
        "        try:\n"
        "            open(path, 'a').write('\\nPWNED\\n')\n"
        "            print('FAIL appended')\n"
        "        except OSError:\n"
        "            pass\n"),
    "fills /tmp": (
        "written = 0\n"
        "try:\n"
        "    for i in range(40):\n"
        "        with open(f'/tmp/fill{i}', 'wb') as f:\n"
        "            f.write(b'x' * (8 << 20))\n"
        "        written += 8\n"
        "except OSError:\n"
        "    pass\n"
        "if written > 80:\n"
        "    print(f'FAIL wrote {written} MB')\n"),
    "fills /dev/shm": (
        "try:\n"
        "    open('/dev/shm/fill', 'wb').write(b'x' * (16 << 20))\n"
        "    print('FAIL wrote 16 MB')\n"
        "except OSError:\n"
        "    pass\n"),
    "writes to the system or the Python installation": (
        "import os, sys\n"
        "for folder in ('/usr', '/usr/lib', os.path.dirname(os.__file__), '/etc', '/'):\n"
        "    try:\n"
        "        open(os.path.join(folder, 'undrift-probe'), 'w').write('x')\n"
        "        print('FAIL wrote in', folder)\n"
        "    except OSError:\n"
        "        pass\n"),
    "connects to the host": (
        "import socket\n"
        "for host in ('127.0.0.1', '10.0.2.2', '8.8.8.8'):\n"
        "    try:\n"
        "        socket.create_connection((host, HOST_PORT if host == '127.0.0.1' else 53), timeout=1)\n"
        "        print('FAIL connected to', host)\n"
        "    except OSError:\n"
        "        pass\n"),
    "reaches the virtual machine's host over vsock": (
        "import socket\n"
        "try:\n"
        "    socket.socket(40, socket.SOCK_STREAM)\n"  # AF_VSOCK
        "    print('FAIL opened a vsock socket')\n"
        "except OSError:\n"
        "    pass\n"),
    "takes memory no limit counts (System V shared memory)": (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "if libc.shmget(0, 64 << 20, 0o1000 | 0o600) >= 0:\n"  # IPC_PRIVATE, IPC_CREAT
        "    print('FAIL got 64 MB of shared memory')\n"),
    "gains privileges": (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "status = open('/proc/self/status').read()\n"
        "if 'NoNewPrivs:\\t1' not in status:\n"
        "    print('FAIL new privileges allowed')\n"
        "if os.getuid() == 0 or os.geteuid() == 0:\n"
        "    print('FAIL runs as root')\n"
        "if libc.unshare(0x10000000) == 0:\n"  # CLONE_NEWUSER
        "    print('FAIL made a user namespace')\n"
        "if libc.syscall(250, 0, -3, 0, 0, 0) >= 0 or ctypes.get_errno() != 1:\n"  # keyctl(GET_KEYRING_ID, session)
        "    print('FAIL reached the kernel keyring')\n"),
}


def run_probes(secret_files: list[str], secrets: list[str], host_port: int) -> dict[str, str | None]:
    """Run every probe in a fresh sandbox; a probe fails if it printed a FAIL line, or any of `secrets`."""
    from undrift.sandbox import Sandbox, SandboxLimits

    sandbox = Sandbox.detect()
    preamble = f"SECRET_FILES = {secret_files!r}\nHOST_PORT = {host_port}\n"
    outcome: dict[str, str | None] = {}
    for name, code in PROBES.items():
        result = sandbox.run_python(preamble + code, limits=SandboxLimits(wall_s=20, cpu_s=10, file_mb=16))
        leaked = [s for s in secrets if s in result.stdout]
        failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
        outcome[name] = f"leaked {leaked}" if leaked else (failed[0][:300] if failed else None)
        if result.timed_out:
            outcome[name] = "the probe timed out"
    for path in secret_files:
        if path.endswith(".bashrc") and "PWNED" in Path(path).read_text():
            outcome["appends to a shell start-up file"] = "the host file changed"
    return outcome


if __name__ == "__main__":
    setup = json.loads(sys.argv[1])
    print(json.dumps(run_probes(setup["files"], setup["secrets"], setup["port"])))
