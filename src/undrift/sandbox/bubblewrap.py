"""The bubblewrap command line that confines one run of untrusted Python.

bubblewrap (`bwrap`, the sandbox Flatpak is built on) gives the code new PID, network, IPC, UTS and mount namespaces:
it sees a read-only `/usr`, the read-only Python installation it runs on and its own input folder; a private `/tmp`
with a size limit as its working directory; its own `/proc` (no other process is visible) and a minimal `/dev`; no
`/home`, `/root` (beyond the Python it runs), `/etc` (beyond the linker's cache), `/var`, `/run` or `/dev/shm` of the
host (its own `/dev/shm` holds 1 MB; the rest of its root is read-only); no network at all, not even the host's
loopback; no new privileges; and the seccomp filter of `seccomp.py`.

As root, bubblewrap sets up the view with its privileges and then `setpriv` drops the code, before Python starts, to
a uid of its own that no account uses (drawn per run from UNUSED_UIDS), so it owns nothing on the host and its
process limit counts only its own processes, not a neighbouring sandbox's.  As any other user, bubblewrap works
unprivileged in a user namespace and the code runs as that user, mapped to `nobody` inside.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

NOBODY = 65534
# above accounts (< 65536) and the usual /etc/subuid ranges (100000 + 65536 per user)
UNUSED_UIDS = range(3_000_000, 4_000_000)
MERGED_USR_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def find_bwrap() -> str | None:
    """`$UNDRIFT_BWRAP`, else `bwrap` on PATH, else the copy `make` puts beside this virtualenv's Python."""
    named = os.environ.get("UNDRIFT_BWRAP")
    if named:
        return named if os.access(named, os.X_OK) else None
    beside = Path(sys.executable).parent / "bwrap"
    return shutil.which("bwrap") or (str(beside) if os.access(beside, os.X_OK) else None)


@functools.lru_cache(maxsize=4)
def version(bwrap: str) -> str:
    try:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.strip().removeprefix("bubblewrap ") or "unknown"


def python_paths() -> tuple[str, str]:
    """The real interpreter (not a virtualenv's link to it) and the installation it needs."""
    return os.path.realpath(sys.executable), os.path.realpath(sys.base_prefix)


def command(bwrap: str, workdir: Path, tmp_bytes: int, seccomp_fd: int | None, info_fd: int, channel_fd: int,
            drop_to_uid: int | None) -> list[str]:
    """The full command that runs `workdir/main.py`. It can write no host folder: what it returns goes through
    `channel_fd`, a pipe the caller reads with a size cap.  `drop_to_uid` (as root) is the uid the code runs as."""
    interpreter, prefix = python_paths()
    view = ["--ro-bind", "/usr", "/usr"]
    for link in MERGED_USR_LINKS:
        if os.path.islink(link):
            view += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            view += ["--ro-bind", link, link]
    view += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    if not prefix.startswith("/usr/"):
        view += ["--ro-bind", prefix, prefix]
    view += [
        "--proc", "/proc",
        "--dev", "/dev",
        "--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/tmp",
        "--perms", "1777", "--size", str(1 << 20), "--tmpfs", "/dev/shm",
        "--ro-bind", str(workdir), "/sandbox",
        "--remount-ro", "/",  # the skeleton bubblewrap builds the view on: otherwise memory without a size limit
        "--chdir", "/tmp",
    ]
    env = ["--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8",
           "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--setenv", "UNDRIFT_CHANNEL", str(channel_fd)]
    namespaces = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                  "--hostname", "sandbox", "--die-with-parent", "--new-session", "--info-fd", str(info_fd)]
    if seccomp_fd is not None:
        namespaces += ["--seccomp", str(seccomp_fd)]
    python = [interpreter, "-I", "-S", "/sandbox/main.py"]
    if drop_to_uid is not None:
        drop = ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
                shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={drop_to_uid}", f"--regid={drop_to_uid}",
                "--clear-groups", "--inh-caps=-all", "--"]
        return [bwrap, *namespaces, *env, *view, *drop, *python]
    user = ["--unshare-user", "--disable-userns", "--uid", str(NOBODY), "--gid", str(NOBODY), "--"]
    return [bwrap, *namespaces, *env, *view, *user, *python]
