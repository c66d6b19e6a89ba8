"""The decoders' launcher: own mount, network and PID namespaces, a read-only view, seccomp.

Run by path with Debian's python3 (python3-seccomp provides the libseccomp bindings), never
imported: `processing.confinement` puts it in front of every ffmpeg, ffprobe and photo child,
after which `setpriv` drops the uid, groups and capabilities. So it may use the standard library
and `seccomp` only. Exit status 125 with a line on stderr: the confinement could not be set up.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys

SETUP_FAILED = 125
_PREFIX = "mediavault-confine"
_CLONE_NEWNS = 0x00020000
_CLONE_NEWNET = 0x40000000
_CLONE_NEWPID = 0x20000000
# The namespace flags a decoder must not create more of (clone's first argument).
_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                    0x40000000)  # fmt: skip
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT = 2, 4, 8, 32
_MS_RDONLY, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 4096, 16384, 1 << 18
_MNT_DETACH = 2
_PR_SET_PDEATHSIG = 1
_SIGKILL = 9
_AT_FDCWD, _AT_RECURSIVE = -100, 0x8000
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_NOSUID = 1, 2
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
_MOUNT_SETATTR = 442  # the same number on every architecture
_AF_UNIX = 1
# Denied with EPERM: what reaches beyond the process (other processes, the kernel, mounts and
# namespaces, keys, kernel bypasses of seccomp such as io_uring). A deny-list rather than an
# allow-list: ffmpeg's codecs, x265, Pillow and the NVIDIA driver (ioctl, mmap of device memory)
# use a wide, version-dependent set of calls, and a call missing from an allow-list would turn a
# good upload into a permanent failure.
DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "unshare", "setns",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "keyctl", "add_key", "request_key",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog", "settimeofday",
    "clock_settime", "adjtimex", "clock_adjtime", "iopl", "ioperm", "open_by_handle_at",
    "name_to_handle_at", "lookup_dcookie", "vhangup", "uselib", "fanotify_init", "mknod",
    "mknodat", "sethostname", "setdomainname", "personality", "_sysctl", "sysfs", "ustat",
    "nfsservctl", "vm86", "vm86old",
)  # fmt: skip


class SetupError(Exception):
    """A step of the confinement failed."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(code)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    encoded = [None if value is None else value.encode() for value in (source, target, fstype)]
    result = _libc().mount(
        encoded[0], encoded[1], encoded[2], ctypes.c_ulong(flags), data.encode() or None
    )
    _check(result, f"mount {target}")


class _MountAttr(ctypes.Structure):
    _fields_ = (("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64))  # fmt: skip


def _read_only_tree(root: str) -> None:
    """Every mount under `root` read-only and nosuid (mount_setattr, else mount by mount)."""
    attr = _MountAttr(attr_set=_MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID)
    result = _libc().syscall(
        ctypes.c_long(_MOUNT_SETATTR), ctypes.c_int(_AT_FDCWD), root.encode(),
        ctypes.c_uint(_AT_RECURSIVE), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
    )  # fmt: skip
    if result == 0:
        return
    if ctypes.get_errno() != errno.ENOSYS:
        _check(result, f"read-only {root}")
    with open("/proc/self/mountinfo", encoding="utf-8") as table:
        points = [line.split()[4] for line in table]
    for point in sorted(p for p in points if p == root or p.startswith(root + "/")):
        kept = os.statvfs(point).f_flag & (_MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
        flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | kept
        _mount(None, point, None, flags)


def _mirror(root: str, path: str, *, directory: bool) -> str:
    """Create `path`'s mount point (and its parents, traversable by anyone) under `root`."""
    target = root + path
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if directory:
        os.makedirs(target, mode=0o755, exist_ok=True)
    elif not os.path.lexists(target):
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    return target


def build_root(root: str, reads: list[str], writes: list[str]) -> None:
    """A tmpfs at `root` holding only `reads` (read-only), `writes` and a /proc of its own."""
    # Opened before the tmpfs may hide them (the sources can lie under the mount point).
    handles = {path: os.open(path, os.O_PATH | os.O_NOFOLLOW) for path in (*reads, *writes)}
    links = {path: os.readlink(path) for path in reads if os.path.islink(path)}
    folders = {path for path in reads if os.path.isdir(path)}
    try:
        _mount("tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=1m")
        for path in sorted(reads, key=len):
            if path in links:  # /bin -> usr/bin and the like
                os.makedirs(os.path.dirname(root + path), mode=0o755, exist_ok=True)
                if not os.path.lexists(root + path):
                    os.symlink(links[path], root + path)
                continue
            target = _mirror(root, path, directory=path in folders)
            _mount(f"/proc/self/fd/{handles[path]}", target, None, _MS_BIND | _MS_REC)
        for path in writes:
            _mirror(root, path, directory=True)
        proc = _mirror(root, "/proc", directory=True)
        _mount("proc", proc, "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
        _mirror(root, "/tmp", directory=True)  # noqa: S108  (an empty, read-only /tmp)
        _read_only_tree(root)
        for path in sorted(writes, key=len):
            _mount(f"/proc/self/fd/{handles[path]}", root + path, None, _MS_BIND)
    finally:
        for handle in handles.values():
            os.close(handle)
    os.chdir(root)
    number = _PIVOT_ROOT.get(os.uname().machine)
    libc = _libc()
    if number is not None and libc.syscall(ctypes.c_long(number), b".", b".") == 0:
        # The old root now lies under the new one: detached, nothing of it stays reachable.
        _check(libc.umount2(b".", ctypes.c_int(_MNT_DETACH)), "detach the old root")
    else:
        os.chroot(".")
    os.chdir("/")


def load_filter() -> None:
    """The seccomp filter: no sockets but AF_UNIX, no new namespaces, nothing in DENIED."""
    import seccomp  # type: ignore[import-not-found]

    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    deny = seccomp.ERRNO(errno.EPERM)
    for name in DENIED:
        try:
            rules.add_rule(deny, name)
        except (RuntimeError, ValueError):
            continue  # not a call of this architecture
    for call in ("socket", "socketpair"):
        rules.add_rule(deny, call, seccomp.Arg(0, seccomp.NE, _AF_UNIX))
    for flag in _NAMESPACE_FLAGS:
        rules.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    # clone3 passes its flags in memory, out of the filter's sight: ENOSYS makes glibc use clone.
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    rules.load()  # also sets no_new_privs


def _relay(child: int) -> int:
    """Wait for the decoder and end the same way it did."""
    import signal

    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number not in (signal.SIGKILL, signal.SIGSTOP):  # the two that keep their action
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    return os.waitstatus_to_exitcode(status)


class _Options:
    """What the command line asks for (a plain class: dataclasses take 9 ms to import)."""

    def __init__(self) -> None:
        self.isolate = False
        self.seccomp = False
        self.read: list[str] = []
        self.write: list[str] = []
        self.root = "/tmp"  # noqa: S108  (where the new root is built, in its own namespace)
        self.command: list[str] = []


def parse(argv: list[str]) -> _Options:
    """The options; by hand, as argparse alone would double the start-up time."""
    options, words = _Options(), list(argv)
    while words and words[0] != "--":
        word = words.pop(0)
        if word in ("--isolate", "--seccomp"):
            setattr(options, word[2:], True)
        elif word in ("--read", "--write") and words:
            getattr(options, word[2:]).append(words.pop(0))
        elif word == "--root" and words:
            options.root = words.pop(0)
        else:
            raise SetupError(f"unknown option {word}")
    options.command = words[1:]
    if not options.command:
        raise SetupError("no command given after --")
    return options


def main(argv: list[str] | None = None) -> int:
    """`confine.py [--isolate --read P… --write D…] [--seccomp] -- COMMAND…`"""
    try:
        args = parse(sys.argv[1:] if argv is None else argv)
        if args.isolate:
            _check(_libc().unshare(_CLONE_NEWNS | _CLONE_NEWNET | _CLONE_NEWPID), "unshare")
            child = os.fork()
            if child:
                return _relay(child)
            _check(_libc().prctl(_PR_SET_PDEATHSIG, _SIGKILL), "parent-death signal")
            # The decoder is the first process of its PID namespace: it sees no other.
            _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
            build_root(args.root, args.read, args.write)
        if args.seccomp:
            load_filter()
        os.execv(args.command[0], args.command)  # noqa: S606  (absolute paths, no shell)
    except (OSError, SetupError, RuntimeError, ImportError) as error:
        sys.stderr.write(f"{_PREFIX}: {error}\n")
        sys.stderr.flush()
        os._exit(SETUP_FAILED)


if __name__ == "__main__":
    raise SystemExit(main())
