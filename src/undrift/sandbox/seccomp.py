"""The system calls untrusted code never needs, refused by a seccomp filter that bubblewrap installs.

The list follows what Flatpak and Docker's default profile refuse: the kernel keyring (which a user namespace does not
isolate), tracing and reading other processes' memory, new namespaces (a way back to privileges), mounting, kernel
modules and other administration, BPF, userfaultfd and io_uring (frequent sources of kernel exploits), System V
shared memory and memfds (which no per-process memory limit counts), sockets other than Unix, IP and netlink ones
(AF_VSOCK is not separated by a network namespace and reaches a virtual machine's host), and the
terminal-injection ioctls.  `clone3` answers ENOSYS, so the C library falls back to `clone`, whose flags the filter
can see.  Everything else is allowed: this is a second wall behind the namespaces, not a whitelist of Python's needs.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile

REFUSED = (
    "add_key", "keyctl", "request_key",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "unshare", "setns",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick",
    "mount_setattr", "open_by_handle_at", "name_to_handle_at",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "acct", "swapon", "swapoff", "reboot", "syslog", "quotactl", "lookup_dcookie", "settimeofday", "clock_settime",
    "adjtimex", "clock_adjtime", "sethostname", "setdomainname", "iopl", "ioperm", "vhangup", "uselib",
    "shmget", "shmat", "msgget", "semget",  # System V IPC memory is outside every per-process memory limit
    "memfd_create", "memfd_secret",  # so is memory behind a file descriptor
)
SOCKET_FAMILIES = (1, 2, 10, 16)  # AF_UNIX, AF_INET, AF_INET6, AF_NETLINK; AF_VSOCK would reach the hypervisor
LAST_FAMILY = 64
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
TIOCSTI, TIOCLINUX = 0x5412, 0x541C


@functools.lru_cache(maxsize=1)
def filter_program() -> bytes | None:
    """The compiled BPF program, or None where libseccomp (through pyseccomp) is not available."""
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError):
        return None
    try:
        rules = seccomp.SyscallFilter(seccomp.ALLOW)
        for name in REFUSED:
            try:
                rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
            except (OSError, ValueError):
                pass  # a call this architecture does not have
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
        for flag in CLONE_NAMESPACE_FLAGS:  # a rule per flag: any one of them set refuses the call
            rules.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
        for family in range(LAST_FAMILY):
            if family not in SOCKET_FAMILIES:
                for call in ("socket", "socketpair"):
                    rules.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), call, seccomp.Arg(0, seccomp.EQ, family))
        for call in ("socket", "socketpair"):
            rules.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), call, seccomp.Arg(0, seccomp.GE, LAST_FAMILY))
        for request in (TIOCSTI, TIOCLINUX):
            rules.add_rule(seccomp.ERRNO(errno.EPERM), "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, request))
    except OSError:
        return None
    return _export(rules)


def _export(rules) -> bytes:
    with tempfile.TemporaryFile() as handle:
        rules.export_bpf(handle)
        handle.seek(0)
        return handle.read()


def program_fd() -> int | None:
    """A file descriptor holding the program, for `bwrap --seccomp FD`; the caller closes it."""
    program = filter_program()
    if program is None:
        return None
    fd = os.memfd_create("undrift-seccomp", 0)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
