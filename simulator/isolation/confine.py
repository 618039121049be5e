"""Confinement of model-written code with what the kernel offers without root.

Mechanisms, strongest first, each detected at start-up in a throw-away process (``available()``, cached per
process) and applied to the calling process (``apply``) or to a command this file launches (``launch`` and the
``python confine.py SPEC -- CMD...`` entry point the shell tool uses):

- ``landlock``: a read-only allowlist (the Python installation, system libraries, a few files of ``/etc`` and
  ``/dev``), writes only to the code's own directory; from ABI 4 TCP bind/connect denied, from ABI 6 no signals to
  processes outside the sandbox. It binds root too, which Unix permissions do not.
- ``userns``: a user namespace with a network namespace of its own (no interface but a down loopback: no network).
- ``pidns``: a PID and mount namespace with a fresh ``/proc`` and a private ``/tmp``: the sandbox sees only its own
  processes, and when its first process ends every other one is killed with it.
- ``seccomp``: a syscall filter (after ``PR_SET_NO_NEW_PRIVS``). A policy process may not create processes, run
  programs, open sockets, trace or signal other processes; a shell may run programs but opens no socket. Neither may
  mount, change namespaces, load modules or use io_uring (whose operations bypass seccomp).
- ``bwrap``: bubblewrap, used for the shell only where Landlock is missing (an optional package, never required).

Always applied: rlimits (address space, CPU seconds, file size, open files, processes, no core dumps), no
capabilities, an environment of a few harmless variables, a new session, and the whole process tree killed at a
timeout. Model-written code runs only when the filesystem and the network are both confined, unless the user allows
it explicitly (``--allow-unconfined``, ``GLIA_ALLOW_UNCONFINED=1``); ``GLIA_ISOLATION_DISABLE=landlock,userns,...``
pretends mechanisms are missing (to see what a weaker machine does; ``cgroup`` there makes a shell command's tree
budget a watch rather than a cgroup).

This file uses only the standard library: the shell tool runs it as a script (``python -I -S confine.py``) so that a
sandboxed command starts in tens of milliseconds.
"""

from __future__ import annotations

import ctypes
import errno
import json
import math
import os
import platform
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

MECHANISMS = ("landlock", "userns", "pidns", "seccomp", "bwrap")
ALLOW_ENV = "GLIA_ALLOW_UNCONFINED"
DISABLE_ENV = "GLIA_ISOLATION_DISABLE"
PID_MAX_MIN = 301  # the smallest pid_max the kernel accepts: about 300 processes in a PID namespace
TIMEOUT_EXIT = 124  # exit status of a launched command killed at its timeout (as coreutils' timeout)

# -- syscalls (numbers from the kernel headers: x86_64 asm/unistd_64.h, aarch64 asm-generic/unistd.h) -------------
_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_NR = {
    "x86_64": dict(
        fork=57, vfork=58, clone=56, clone3=435, execve=59, execveat=322, socket=41, socketpair=53, connect=42,
        sendto=44,
        bind=49, listen=50, accept=43, accept4=288, ptrace=101, process_vm_readv=310, process_vm_writev=311, kill=62,
        tkill=200, tgkill=234, rt_sigqueueinfo=129, rt_tgsigqueueinfo=297, pidfd_open=434, pidfd_send_signal=424,
        pidfd_getfd=438, mount=165, umount2=166, pivot_root=155, chroot=161, unshare=272, setns=308, bpf=321,
        perf_event_open=298, keyctl=250, add_key=248, request_key=249, init_module=175, finit_module=313,
        delete_module=176, kexec_load=246, kexec_file_load=320, reboot=169, swapon=167, swapoff=168, acct=163,
        userfaultfd=323, io_uring_setup=425, io_uring_enter=426, io_uring_register=427, open_by_handle_at=304,
        name_to_handle_at=303, settimeofday=164, clock_settime=227, clock_adjtime=305, adjtimex=159,
        sethostname=170, setdomainname=171, iopl=172, ioperm=173, syslog=103, quotactl=179, fanotify_init=300,
        move_mount=429, open_tree=428, fsopen=430, fsconfig=431, fsmount=432, fspick=433, mount_setattr=442,
        lookup_dcookie=212, vhangup=153, capset=126, seccomp=317, landlock_create_ruleset=444, landlock_add_rule=445,
        landlock_restrict_self=446),
    "aarch64": dict(
        clone=220, clone3=435, execve=221, execveat=281, socket=198, socketpair=199, connect=203, bind=200,
        sendto=206,
        listen=201, accept=202, accept4=242, ptrace=117, process_vm_readv=270, process_vm_writev=271, kill=129,
        tkill=130, tgkill=131, rt_sigqueueinfo=138, rt_tgsigqueueinfo=240, pidfd_open=434, pidfd_send_signal=424,
        pidfd_getfd=438, mount=40, umount2=39, pivot_root=41, chroot=51, unshare=97, setns=268, bpf=280,
        perf_event_open=241, keyctl=219, add_key=217, request_key=218, init_module=105, finit_module=273,
        delete_module=106, kexec_load=104, kexec_file_load=294, reboot=142, swapon=224, swapoff=225, acct=89,
        userfaultfd=282, io_uring_setup=425, io_uring_enter=426, io_uring_register=427, open_by_handle_at=265,
        name_to_handle_at=264, settimeofday=170, clock_settime=112, clock_adjtime=266, adjtimex=171,
        sethostname=161, setdomainname=162, syslog=116, quotactl=60, fanotify_init=262, move_mount=429,
        open_tree=428, fsopen=430, fsconfig=431, fsmount=432, fspick=433, mount_setattr=442, lookup_dcookie=18,
        vhangup=58, capset=91, seccomp=277, landlock_create_ruleset=444, landlock_add_rule=445,
        landlock_restrict_self=446),
}
# what no sandboxed code may do: change mounts or namespaces, load kernel code, trace or read other processes' memory,
# set clocks, use io_uring (its operations are not filtered), open file handles by id
_NEVER = ("ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "chroot", "unshare",
          "setns", "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "init_module", "finit_module",
          "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "userfaultfd",
          "io_uring_setup", "io_uring_enter", "io_uring_register", "open_by_handle_at", "name_to_handle_at",
          "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "iopl",
          "ioperm", "syslog", "quotactl", "fanotify_init", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
          "fspick", "mount_setattr", "lookup_dcookie", "vhangup", "pidfd_getfd")
# and a routing policy has no business creating processes, running programs, opening sockets or signalling anyone
_POLICY_ONLY = ("fork", "vfork", "execve", "execveat", "socket", "socketpair", "connect", "bind", "listen", "accept",
                "accept4", "tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open", "pidfd_send_signal")
_SHELL_ONLY = ("socket", "connect", "bind", "listen", "accept", "accept4")

CLONE_THREAD = 0x00010000
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
_CLONE_NAMESPACES = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | \
    CLONE_NEWNET

PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_SECUREBITS = 1, 24, 28
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, PR_SET_CHILD_SUBREAPER = 38, 47, 4, 36
SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC = 1, 1
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 0x1000, 0x4000, 0x40000

# Landlock (include/uapi/linux/landlock.h)
LL_EXECUTE, LL_WRITE_FILE, LL_READ_FILE, LL_READ_DIR = 1, 2, 4, 8  # bits 4-12: remove and make rights (ABI 1)
LL_REFER, LL_TRUNCATE, LL_IOCTL_DEV = 8192, 16384, 32768           # ABI 2, 3, 5
LL_NET_BIND_TCP, LL_NET_CONNECT_TCP = 1, 2
LL_SCOPE_ABSTRACT_UNIX_SOCKET, LL_SCOPE_SIGNAL = 1, 2
_LL_FILE_RIGHTS = LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV
_LL_READ = LL_EXECUTE | LL_READ_FILE | LL_READ_DIR


def _landlock_all(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= LL_REFER
    if abi >= 3:
        rights |= LL_TRUNCATE
    if abi >= 5:
        rights |= LL_IOCTL_DEV
    return rights


# -- what a sandbox may read --------------------------------------------------------------------------------------
SYSTEM_READ = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt/conda")
ETC_READ = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/timezone",
            "/etc/nsswitch.conf", "/etc/locale.alias", "/etc/inputrc", "/etc/mime.types", "/etc/alternatives")
DEV_RW = ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom", "/dev/random")
SAFE_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "LC_COLLATE", "LC_MESSAGES", "TZ", "TERM")


def python_roots() -> list[str]:
    """The directories of the running interpreter: prefixes and every existing ``sys.path`` directory under them."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            roots.add(p)
    roots.add(str(Path(sys.executable).resolve().parent.parent))
    # package directories a .pth file added (a venv layered on another one's site-packages); never the script's or
    # the working directory that sys.path may also hold
    roots.update(p for p in sys.path if p and os.path.basename(p.rstrip(os.sep)) in ("site-packages",
                                                                                   "dist-packages"))
    return sorted(r for r in roots if r and os.path.isdir(r))


# -- detection ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Isolation:
    """What this machine offers; ``notes`` says why a mechanism is missing."""

    landlock_abi: int = 0
    userns: bool = False
    pidns: bool = False
    seccomp: bool = False
    bwrap: str | None = None
    notes: dict = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return bool(self.landlock_abi if name == "landlock" else getattr(self, name))

    @property
    def level(self) -> str:
        """The mechanisms in use, e.g. ``landlock+userns+pidns+seccomp``; ``none`` when there is none."""
        used = [m for m in MECHANISMS if self.has(m) and not (m == "bwrap" and self.landlock_abi)]
        return "+".join(used) or "none"

    def missing(self, kind: str = "policy") -> list[str]:
        """What this machine lacks for confining model-written code of ``kind`` ("policy" or "shell")."""
        out = []
        fs = self.landlock_abi or (kind == "shell" and self.bwrap)
        if not fs:
            out.append("filesystem confinement (Landlock" + (" or bubblewrap" if kind == "shell" else "") + ")")
        if not (self.userns or self.seccomp or (kind == "shell" and self.bwrap)):
            out.append("network confinement (a user + network namespace, or seccomp)")
        return out

    def confined(self, kind: str = "policy") -> bool:
        return not self.missing(kind)


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _nr(name: str) -> int | None:
    return _NR.get(platform.machine(), {}).get(name)


def _syscall(name: str, *args) -> int:
    nr = _nr(name)
    if nr is None:
        raise OSError(errno.ENOSYS, f"{name}: unsupported architecture {platform.machine()}")
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    res = libc.syscall(ctypes.c_long(nr), *args)
    if res < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{name}: {os.strerror(e)}")
    return res


def _prctl(option: int, a2: int = 0, a3=0, a4: int = 0, a5: int = 0) -> None:
    libc = _libc()
    if libc.prctl(ctypes.c_int(option), ctypes.c_ulong(a2), a3 if isinstance(a3, ctypes._Pointer) else
                  ctypes.c_ulong(a3), ctypes.c_ulong(a4), ctypes.c_ulong(a5)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"prctl({option}): {os.strerror(e)}")


def landlock_abi() -> int:
    try:
        return _syscall("landlock_create_ruleset", None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except OSError:
        return 0


def _disabled() -> set[str]:
    return {m.strip() for m in os.environ.get(DISABLE_ENV, "").split(",") if m.strip()}


def _probe_here() -> dict:
    """Run in a disposable process: try each mechanism for real and say what worked."""
    out: dict = {"landlock_abi": landlock_abi(), "userns": False, "pidns": False, "seccomp": False, "notes": {}}
    if not out["landlock_abi"]:
        out["notes"]["landlock"] = ("the kernel has no Landlock (Linux >= 5.13 built with CONFIG_SECURITY_LANDLOCK "
                                    "and 'landlock' in the lsm= boot parameter)")
    try:
        _enter_userns(CLONE_NEWNET)
        out["userns"] = True
    except OSError as exc:
        out["notes"]["userns"] = (f"cannot create a user + network namespace ({exc.strerror}); unprivileged user "
                                  "namespaces are off (sysctl user.max_user_namespaces, kernel.unprivileged_userns_"
                                  "clone or kernel.apparmor_restrict_unprivileged_userns)")
    if out["userns"]:
        try:
            _syscall("unshare", ctypes.c_int(CLONE_NEWNS | CLONE_NEWPID))
            pid = os.fork()
            if pid == 0:
                try:
                    _private_mounts()
                    os._exit(0)
                except BaseException:
                    os._exit(1)
            _, status = os.waitpid(pid, 0)
            out["pidns"] = os.waitstatus_to_exitcode(status) == 0
            if not out["pidns"]:
                out["notes"]["pidns"] = "cannot mount a fresh /proc in a PID namespace"
        except OSError as exc:
            out["notes"]["pidns"] = f"cannot create a PID + mount namespace ({exc.strerror})"
    try:
        install_seccomp("shell")
        out["seccomp"] = True
    except OSError as exc:
        out["notes"]["seccomp"] = f"cannot install a seccomp filter ({exc.strerror})"
    return out


_CACHED: Isolation | None = None  # CACHE: the isolation probe, once per process


def available(refresh: bool = False) -> Isolation:
    """The mechanisms this machine offers, probed once per process in a throw-away child process."""
    global _CACHED
    if _CACHED is not None and not refresh:
        return _CACHED
    found: dict = {"notes": {}}
    try:
        proc = subprocess.run([sys.executable, "-I", "-S", __file__, "--probe"], capture_output=True, text=True,
                              timeout=30, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        found = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError) as exc:
        found["notes"]["probe"] = f"the isolation probe failed: {exc}"
    bwrap = os.environ.get("GLIA_BWRAP") or shutil.which("bwrap")
    found["bwrap"] = bwrap if bwrap and os.access(bwrap, os.X_OK) else None
    if not found["bwrap"]:
        found["notes"]["bwrap"] = "bubblewrap is not installed (optional: apt install bubblewrap)"
    for name in _disabled():
        if name in MECHANISMS:
            found["landlock_abi" if name == "landlock" else name] = 0 if name == "landlock" else (
                None if name == "bwrap" else False)
            found["notes"][name] = f"disabled by {DISABLE_ENV}"
    if not found.get("userns"):
        found["pidns"] = False
    _CACHED = Isolation(int(found.get("landlock_abi") or 0), bool(found.get("userns")), bool(found.get("pidns")),
                        bool(found.get("seccomp")), found.get("bwrap"), found.get("notes", {}))
    return _CACHED


# -- the refusal ----------------------------------------------------------------------------------------------------
class Unconfined(ValueError):
    """Model-written code was about to run without filesystem or network confinement and the user did not allow it."""


def unconfined_allowed(flag: bool = False) -> bool:
    return flag or os.environ.get(ALLOW_ENV, "").strip().lower() in ("1", "true", "yes")


def refusal(iso: Isolation, kind: str = "policy") -> str:
    what = "candidate policies" if kind == "policy" else "shell commands"
    lines = [f"Glia will not run model-written {what} on this machine: it lacks "
             f"{' and '.join(iso.missing(kind))}. Strongest isolation available: {iso.level}."]
    for name in MECHANISMS:
        if not iso.has(name) and name in iso.notes:
            lines.append(f"  - {name}: {iso.notes[name]}")
    lines.append("To proceed, enable Landlock and unprivileged user namespaces (or install bubblewrap), or run Glia in "
                 f"a disposable VM or container and pass --allow-unconfined (or set {ALLOW_ENV}=1): the code then runs "
                 "with only what is available, and every output says so.")
    return "\n".join(lines)


def require(kind: str = "policy", allow_unconfined: bool = False) -> Isolation:
    """The isolation to use for ``kind``; raises ``Unconfined`` (with what is missing and how to proceed) when the
    filesystem or the network cannot be confined and the user did not allow it."""
    iso = available()
    if not iso.confined(kind) and not unconfined_allowed(allow_unconfined):
        raise Unconfined(refusal(iso, kind))
    return iso


def describe(iso: Isolation | None = None, kind: str = "policy") -> str:
    """One line for outputs and reports: the level, or a loud UNCONFINED warning."""
    iso = iso or available()
    if iso.confined(kind):
        return f"isolation: {iso.level}"
    return (f"WARNING: ran UNCONFINED ({', '.join(iso.missing(kind))} missing; only {iso.level}), allowed by "
            f"--allow-unconfined / {ALLOW_ENV}")


def doctor_lines() -> list[str]:
    """``glia doctor``'s isolation section."""
    iso = available()
    lines = [f"isolation: {iso.level}" + ("" if iso.confined("policy") and iso.confined("shell") else
                                          "  (INSUFFICIENT for model-written code)")]
    for name in MECHANISMS:
        if name == "landlock":
            state = f"yes (ABI {iso.landlock_abi})" if iso.landlock_abi else "no"
        elif name == "bwrap":
            state = (f"yes ({iso.bwrap}; used for the shell only without Landlock)" if iso.bwrap else "no")
        else:
            state = "yes" if iso.has(name) else "no"
        note = f" - {iso.notes[name]}" if not iso.has(name) and name in iso.notes else ""
        lines.append(f"  {name:<9}{state}{note}")
    for kind in ("policy", "shell"):
        miss = iso.missing(kind)
        what = "candidate policies" if kind == "policy" else "shell commands"
        lines.append(f"  {what}: " + ("confined" if not miss else
                                      f"NOT confined ({'; '.join(miss)} missing): refused unless --allow-unconfined"))
    return lines


# -- applying it to this process -------------------------------------------------------------------------------------
@dataclass
class Box:
    """What a sandboxed process may touch, and its limits (None: no limit)."""

    profile: str = "policy"                  # "policy" (no processes, no sockets) or "shell"
    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)
    hide: list[str] = field(default_factory=list)   # directories under ``read`` to leave out (e.g. the traces)
    memory_mb: int | None = 4096
    cpu_s: float | None = None
    file_mb: int | None = 0
    open_files: int | None = 256
    processes: int | None = 64
    cwd: str | None = None
    use: dict = field(default_factory=dict)  # mechanism -> bool (default: what ``available()`` found)
    tree_memory_mb: int | None = None        # for the whole process tree together (``launch``): a cgroup, or a watch
    tree_processes: int | None = None        # processes of the tree at once (a cgroup's pids.max)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _enter_userns(extra: int) -> None:
    uid, gid = os.geteuid(), os.getegid()
    _syscall("unshare", ctypes.c_int(CLONE_NEWUSER | extra))
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1")


def _mount(src: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = _libc()
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None
    if libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {fstype or src} on {target}: {os.strerror(e)}")


def _private_mounts(keep: list[str] = (), processes: int = 0) -> None:
    """In a new PID + mount namespace: our own /proc (only our processes) and a private, small /tmp, with the
    directories of ``keep`` that lie under /tmp bound back into it."""
    under_tmp = [os.path.realpath(k) for k in keep if os.path.realpath(k).startswith("/tmp/")]
    fds = [(p, os.open(p, os.O_PATH | os.O_CLOEXEC)) for p in under_tmp if os.path.exists(p)]
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=256m,mode=1777")
    try:  # Linux >= 6.14 keeps pid_max per PID namespace: the cap on processes that binds root too
        with open("/proc/sys/kernel/pid_max", "w") as f:
            f.write(str(max(PID_MAX_MIN, processes)))
    except OSError:
        pass
    for path, fd in fds:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        os.close(fd)


def _readable(root: str, hide: list[str]) -> list[str]:
    """``root``, or when a hidden directory lies beneath it, its other entries (recursively), so that Landlock,
    which only grants, can leave that directory out."""
    rp = os.path.realpath(root)
    inside = [h for h in hide if os.path.realpath(h) == rp or os.path.realpath(h).startswith(rp + os.sep)]
    if not inside:
        return [rp]
    if any(os.path.realpath(h) == rp for h in inside):
        return []
    out = []
    try:
        entries = sorted(os.listdir(rp))
    except OSError:
        return []
    for name in entries:
        out += _readable(os.path.join(rp, name), inside)
    return out


def _scratch(box: Box) -> str:
    """The private /tmp, or a directory in it when a hidden directory was bound back beneath /tmp (a Python
    installed under /tmp): Landlock grants a whole tree, so a writable /tmp would make the hidden one readable."""
    if not any(os.path.realpath(h).startswith("/tmp/") for h in box.hide):
        return "/tmp"
    scratch = tempfile.mkdtemp(prefix="scratch-", dir="/tmp")
    os.environ["TMPDIR"] = scratch
    return scratch


def _landlock(box: Box, abi: int, scope_signals: bool) -> None:
    handled = _landlock_all(abi)
    attr = struct.pack("QQQ", handled, LL_NET_BIND_TCP | LL_NET_CONNECT_TCP if abi >= 4 else 0,
                       (LL_SCOPE_ABSTRACT_UNIX_SOCKET | (LL_SCOPE_SIGNAL if scope_signals else 0)) if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    buf = ctypes.create_string_buffer(attr[:size], size)
    ruleset = _syscall("landlock_create_ruleset", buf, ctypes.c_size_t(size), ctypes.c_uint32(0))
    try:
        rules: dict[str, int] = {}
        for root in box.read:
            for path in _readable(root, box.hide):
                rules[path] = rules.get(path, 0) | _LL_READ
        for path in ETC_READ:
            rules[os.path.realpath(path)] = rules.get(os.path.realpath(path), 0) | _LL_READ
        for path in DEV_RW:
            rules[path] = rules.get(path, 0) | LL_READ_FILE | LL_WRITE_FILE | (LL_IOCTL_DEV if abi >= 5 else 0)
        for path in box.write:
            rules[os.path.realpath(path)] = handled
        for path, rights in rules.items():
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # absent on this machine
            try:
                if not os.path.isdir(path):
                    rights &= _LL_FILE_RIGHTS
                rule = ctypes.create_string_buffer(struct.pack("=Qi", rights & handled, fd), 12)
                _syscall("landlock_add_rule", ctypes.c_int(ruleset), ctypes.c_int(1), rule, ctypes.c_uint32(0))
            finally:
                os.close(fd)
        _syscall("landlock_restrict_self", ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)


def seccomp_program(profile: str, self_pid: int = 0) -> bytes:
    """The filter as raw ``struct sock_filter`` entries (for ``apply`` and for bubblewrap's ``--seccomp FD``)."""
    arch = platform.machine()
    nr = _NR[arch]
    deny = sorted({nr[n] for n in _NEVER + (_POLICY_ONLY if profile == "policy" else _SHELL_ONLY) if n in nr})
    LD, JEQ, JGE, JSET, JA, RET = 0x20, 0x15, 0x35, 0x45, 0x05, 0x06  # BPF_LD|W|ABS, BPF_JMP|..|K, BPF_RET|K
    AND = 0x54                                                          # BPF_ALU|BPF_AND|BPF_K
    prog: list = []  # (code, k, label if true, label if false) or ("label", name)

    def op(code: int, k: int = 0, yes: str | None = None, no: str | None = None) -> None:
        prog.append((code, k, yes, no))

    op(LD, 4)                                    # seccomp_data.arch
    op(JEQ, _ARCH[arch], None, "deny")
    op(LD, 0)                                    # seccomp_data.nr
    if arch == "x86_64":
        op(JGE, 0x40000000, "deny")              # the x32 ABI's numbers
    for n in deny:
        op(JEQ, n, "deny")
    # a socket pair is a stream pair only: an unconnected-looking datagram pair could sendto() any named Unix
    # socket (Landlock does not cover socket paths here); sendto() with a destination address is refused outright
    op(JEQ, nr["socketpair"], None, "after_socketpair")
    op(LD, 24)                                   # socketpair's type (args[1], low word)
    op(AND, 0xF)                                 # without SOCK_NONBLOCK / SOCK_CLOEXEC
    op(JEQ, 1, "allow", "deny")                  # SOCK_STREAM
    prog.append(("label", "after_socketpair"))
    op(JEQ, nr["sendto"], None, "after_sendto")
    op(LD, 48)                                   # sendto's dest_addr (args[4]), low and high words
    op(JEQ, 0, None, "deny")
    op(LD, 52)
    op(JEQ, 0, "allow", "deny")
    prog.append(("label", "after_sendto"))
    op(LD, 0)
    op(JEQ, nr["clone3"], "enosys")              # its flags cannot be inspected; libc falls back to clone
    op(JEQ, nr["clone"], None, "after_clone")
    op(LD, 16)                                   # clone's flags (args[0], low word)
    op(JSET, _CLONE_NAMESPACES, "deny")
    if profile == "policy":
        op(JSET, CLONE_THREAD, "allow", "deny")  # threads, not processes
    else:
        op(JA, 0, "allow")
    prog.append(("label", "after_clone"))
    if profile == "policy":                      # signals to itself only
        for name in ("kill", "tgkill"):
            op(JEQ, nr[name], None, f"after_{name}")
            op(LD, 16)
            op(JEQ, self_pid or os.getpid(), "allow", "deny")
            prog.append(("label", f"after_{name}"))
    prog.append(("label", "allow"))
    op(RET, SECCOMP_RET_ALLOW)
    prog.append(("label", "deny"))
    op(RET, SECCOMP_RET_ERRNO | errno.EPERM)
    prog.append(("label", "enosys"))
    op(RET, SECCOMP_RET_ERRNO | errno.ENOSYS)
    labels, code = {}, []
    for ins in prog:
        if ins[0] == "label":
            labels[ins[1]] = len(code)
        else:
            code.append(ins)

    def offset(label: str | None, pos: int) -> int:
        if label is None:
            return 0
        off = labels[label] - pos - 1
        if not 0 <= off < 256:
            raise ValueError("seccomp program too long for a conditional jump")
        return off

    out = []
    for pos, (c, k, yes, no) in enumerate(code):
        if c == JA:
            out.append(struct.pack("HBBI", c, 0, 0, offset(yes, pos)))
        elif c == AND:
            out.append(struct.pack("HBBI", c, 0, 0, k))
        else:
            out.append(struct.pack("HBBI", c, offset(yes, pos), offset(no, pos), k))
    return b"".join(out)


def install_seccomp(profile: str) -> None:
    if platform.machine() not in _NR:
        raise OSError(errno.ENOSYS, f"no syscall table for {platform.machine()}")
    raw = seccomp_program(profile)
    buf = ctypes.create_string_buffer(raw, len(raw))
    prog = struct.pack("HxxxxxxQ", len(raw) // 8, ctypes.addressof(buf))
    pbuf = ctypes.create_string_buffer(prog, len(prog))
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    # every thread of the process (a library may have started some), not only the caller
    if _syscall("seccomp", ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(SECCOMP_FILTER_FLAG_TSYNC), pbuf):
        raise OSError(errno.EAGAIN, "seccomp: a thread of this process could not take the filter")


def _drop_capabilities() -> None:
    """No capabilities, now or after exec (only those of our own user namespace, or real root's without one)."""
    try:
        _prctl(PR_SET_SECUREBITS, 0x2F)  # NOROOT, NO_SETUID_FIXUP, KEEP_CAPS off: each locked
    except OSError:
        pass
    for cap in range(64):
        try:
            _prctl(PR_CAPBSET_DROP, cap)
        except OSError:
            break
    try:
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass
    header = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0), 8)
    data = ctypes.create_string_buffer(bytes(24), 24)
    _syscall("capset", header, data)


def _rlimits(box: Box) -> None:
    def cap(res: int, value: int | None, grace: int = 0) -> None:
        if value is None:
            return
        soft, hard = resource.getrlimit(res)
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        top = value + grace if hard == resource.RLIM_INFINITY else min(value + grace, hard)
        resource.setrlimit(res, (value, top))
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_AS, box.memory_mb * 1024 * 1024 if box.memory_mb else None)
    # CPU seconds: SIGXCPU at the limit (the process ends, and its status says why), SIGKILL a second later for a
    # process that catches or ignores SIGXCPU
    cap(resource.RLIMIT_CPU, max(1, math.ceil(box.cpu_s)) if box.cpu_s else None, grace=1)
    cap(resource.RLIMIT_FSIZE, box.file_mb * 1024 * 1024 if box.file_mb is not None else None)
    cap(resource.RLIMIT_NOFILE, box.open_files)
    cap(resource.RLIMIT_NPROC, box.processes)


def safe_env(home: str | None = None, extra_path: list[str] | None = None) -> dict[str, str]:
    """The environment sandboxed code gets: a system PATH (plus ``extra_path``), locale, HOME, nothing else (no keys,
    tokens, endpoints, nor anything naming the user's home)."""
    env = {k: os.environ[k] for k in SAFE_ENV if k in os.environ}
    env["PATH"] = ":".join([*(extra_path or []), "/usr/local/bin", "/usr/bin", "/bin"])
    if home:
        env["HOME"] = home
    return env


def apply(box: Box, iso: Isolation | None = None, in_userns: bool = False) -> list[str]:
    """Confine the calling (single-threaded) process as ``box`` says; return the mechanisms applied. A PID namespace
    needs a fork, so ``launch`` enters it (``in_userns``: the user namespace is entered already)."""
    iso = iso or available()
    use = {m: box.use.get(m, iso.has(m)) for m in MECHANISMS}
    applied = []
    if in_userns:
        applied.append("userns")
    elif use["userns"]:
        try:
            _enter_userns(CLONE_NEWNET)
            applied.append("userns")
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            # a process that started threads cannot enter a user namespace; seccomp still keeps it off the network
    _rlimits(box)
    if box.cwd:
        os.chdir(box.cwd)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    if use["landlock"] and iso.landlock_abi:
        _landlock(box, iso.landlock_abi, scope_signals=True)
        applied.append("landlock")
    _drop_capabilities()
    if use["seccomp"] and iso.seccomp:
        install_seccomp(box.profile)
        applied.append("seccomp")
    return applied


# -- launching a confined command (the shell tool) ------------------------------------------------------------------
def _sweep(pid: int) -> None:
    """Kill every process left beneath us (we are their subreaper), until none is left."""
    for _ in range(50):
        kids = []
        for d in os.listdir("/proc"):
            if d.isdigit() and int(d) != pid:
                try:
                    with open(f"/proc/{d}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid == pid:
                    kids.append(int(d))
        if not kids:
            return
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for k in kids:
            try:
                os.waitpid(k, 0)
            except ChildProcessError:
                pass


def _wait(pid: int, timeout_s: float, budget: TreeBudget | None = None, namespace: bool = False
          ) -> tuple[int | None, str | None]:
    """(the exit status of child ``pid``, None) or (None, None) when ``timeout_s`` passed first, or (None, why) when
    its tree broke ``budget``'s watch."""
    deadline = time.monotonic() + timeout_s
    watch = budget is not None and budget.kind != "none"
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    try:
        while True:
            got, status = os.waitpid(pid, os.WNOHANG)
            if got == pid:
                return os.waitstatus_to_exitcode(status), None
            if watch:
                why = budget.over(pid, namespace)
                if why:
                    return None, why
            left = deadline - time.monotonic()
            if left <= 0:
                return None, None
            step = min(left, WATCH_INTERVAL_S) if watch else left
            if fd is not None:
                select.select([fd], [], [], step)
            else:
                time.sleep(min(0.01, step))
    finally:
        if fd is not None:
            os.close(fd)


def _bwrap_argv(box: Box, bwrap: str, argv: list[str]) -> tuple[list[str], int]:
    """bubblewrap's command line for ``argv`` in ``box`` (read-only system, the workspace writable, no network, own
    PID namespace), and the fd carrying the seccomp program."""
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp"]
    for root in [*SYSTEM_READ, *box.read, *ETC_READ]:
        if os.path.exists(root):
            args += ["--ro-bind", root, root]
    for w in box.write:
        args += ["--bind", w, w]
    if box.cwd:
        args += ["--chdir", box.cwd]
    r, w = os.pipe()
    os.write(w, seccomp_program(box.profile))
    os.close(w)
    return args + ["--seccomp", str(r), "--", *argv], r


# -- a budget for a whole process tree ------------------------------------------------------------------------------
TREE_EXIT = 137          # exit status of a launched command killed for its tree's memory
WATCH_INTERVAL_S = 0.05  # how often the watch sums the tree's memory when there is no cgroup


class TreeBudget:
    """Memory (and processes) for a process tree together, not per process: a cgroup of its own when this process
    may create one (cgroup v2 with the memory and pids controllers delegated, or v1's memory and pids hierarchies),
    else a watch that sums the resident memory of the tree every ``WATCH_INTERVAL_S`` and kills it past the budget
    (a process can overshoot by what it allocates within one interval, and by no more than its own address-space
    limit). The launcher joins the cgroup before it forks, so that every process of the tree is in it."""

    def __init__(self, memory_mb: int | None, processes: int | None):
        self.memory = memory_mb * 1024 * 1024 if memory_mb else None
        self.processes = processes
        self.dirs: list[str] = []
        self.home: list[str] = []    # the cgroup.procs files this process came from
        self.kind = "none"
        self.peak = 0
        if self.memory or self.processes:
            self.kind = (None if "cgroup" in _disabled() else self._cgroup()) or "watch"

    def _own(self) -> dict[str, str]:
        out = {}
        try:
            with open("/proc/self/cgroup") as f:
                for line in f:
                    _, ctrls, path = line.rstrip("\n").split(":", 2)
                    for c in (ctrls.split(",") if ctrls else [""]):
                        out[c] = path
        except OSError:
            pass
        return out

    def _make(self, base: str, limits: dict[str, str]) -> str:
        d = os.path.join(base, f"glia-shell-{os.getpid()}")
        os.mkdir(d)
        self.dirs.append(d)
        for name, value in limits.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(value)
        return d

    def _cgroup(self) -> str | None:
        own = self._own()
        mem, pids = str(self.memory or "max"), str(self.processes or "max")
        try:  # v2
            base = "/sys/fs/cgroup" + own.get("", "/")
            if os.path.exists(os.path.join(base, "memory.max")) or os.path.exists(
                    os.path.join(base, "cgroup.subtree_control")):
                with open(os.path.join(base, "cgroup.controllers")) as f:
                    ctrls = f.read().split()
                if {"memory", "pids"} <= set(ctrls):
                    d = self._make(base, {"memory.max": mem, "memory.swap.max": "0", "pids.max": pids})
                    self._join([d], [os.path.join(base, "cgroup.procs")])
                    return "cgroup2"
        except OSError:
            self.release()
        try:  # v1
            dirs, homes = [], []
            for ctrl, limits in (("memory", {"memory.limit_in_bytes": mem if self.memory else "-1"}),
                                 ("pids", {"pids.max": pids})):
                base = f"/sys/fs/cgroup/{ctrl}" + own.get(ctrl, "/")
                if not os.path.isdir(base):
                    raise OSError(errno.ENOENT, f"no {ctrl} cgroup hierarchy")
                dirs.append(self._make(base, limits))
                homes.append(os.path.join(base, "cgroup.procs"))
            self._join(dirs, homes)
            return "cgroup1"
        except OSError:
            self.release()
        return None

    def _join(self, dirs: list[str], homes: list[str]) -> None:
        for d in dirs:
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        self.home = homes

    def release(self) -> None:
        """Leave the cgroups (back where this process came from) and remove them."""
        for h in self.home:
            try:
                with open(h, "w") as f:
                    f.write(str(os.getpid()))
            except OSError:
                pass
        self.home = []
        for d in reversed(self.dirs):
            try:
                os.rmdir(d)
            except OSError:
                pass
        self.dirs = []

    def over(self, root: int, namespace: bool = False) -> str | None:
        """Why the tree under ``root`` broke the budget, or None (a cgroup enforces it itself: its kernel killed a
        process of the tree; the watch sums the tree's memory)."""
        if self.kind != "watch":
            return self.oom_killed()
        if not self.memory:
            return None
        total = 0
        page = os.sysconf("SC_PAGE_SIZE")
        # in a PID namespace the launcher shares the tree's mount namespace, whose /proc shows the tree only
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()] if namespace else _tree(root)
        for pid in pids:
            try:
                with open(f"/proc/{pid}/statm") as f:
                    total += int(f.read().split()[1]) * page
            except (OSError, ValueError, IndexError):
                pass
        self.peak = max(self.peak, total)
        if total > self.memory:
            return (f"its processes held {total / 2**20:.0f} MB together, more than the "
                    f"{self.memory / 2**20:.0f} MB the command may use")
        return None

    def oom_killed(self) -> str | None:
        """Whether the cgroup's memory limit killed a process of the tree (v1: memory.failcnt; v2: oom_kill)."""
        for d in self.dirs:
            for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                try:
                    with open(os.path.join(d, name)) as f:
                        for line in f:
                            k, _, v = line.partition(" ")
                            if k == key and int(v) > 0:
                                return (f"a process was killed: the command's processes together reached the "
                                        f"{self.memory / 2**20:.0f} MB they may use")
                except (OSError, ValueError):
                    continue
        return None


def _tree(root: int) -> list[int]:
    """``root`` and every process beneath it."""
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out, todo = [], [root]
    kids: dict[int, list[int]] = {}
    for pid, pp in parent.items():
        kids.setdefault(pp, []).append(pid)
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def launch(box: Box, argv: list[str], timeout_s: float, iso: Isolation | None = None) -> int:
    """Run ``argv`` confined (this process forks it and waits); the whole tree is killed at ``timeout_s`` or when
    ``argv`` ends. Returns its exit status (TIMEOUT_EXIT when killed at the timeout)."""
    iso = iso or available()
    use = {m: box.use.get(m, iso.has(m)) for m in MECHANISMS}
    try:
        os.setsid()
    except OSError:
        pass  # already a session leader
    via_bwrap = bool(not (use["landlock"] and iso.landlock_abi) and use["bwrap"] and iso.bwrap)
    pidns = bool(use["userns"] and use["pidns"] and iso.pidns) and not via_bwrap
    budget = TreeBudget(box.tree_memory_mb, box.tree_processes)  # joined before the fork: the whole tree is in it
    if pidns:
        _enter_userns(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID)
    else:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent and not pidns:
                os._exit(1)
            if via_bwrap:
                args, fd = _bwrap_argv(box, iso.bwrap, argv)
                os.set_inheritable(fd, True)
                _rlimits(box)
                os.execv(args[0], args)
            os.nice(10)  # a runaway sandbox must not starve the harness
            if pidns:  # its own /proc (only its processes) is readable, its private /tmp writable
                _private_mounts([*box.read, *box.write, *([box.cwd] if box.cwd else [])], box.processes or 0)
                box.read, box.write = [*box.read, "/proc"], [*box.write, _scratch(box)]
            apply(box, iso, in_userns=pidns)
            os.execvp(argv[0], argv)
        except BaseException as exc:  # report why the sandbox could not be set up, never run unconfined
            os.write(2, f"glia-confine: cannot start the sandbox: {exc}\n".encode())
            os._exit(126)
    status, why = _wait(pid, timeout_s, budget, namespace=pidns)
    if status is None:
        os.kill(pid, signal.SIGKILL)  # in a PID namespace this kills the whole tree
        os.waitpid(pid, 0)
    if not pidns:
        _sweep(os.getpid())
    why = why or budget.oom_killed()
    budget.release()
    if why:
        os.write(2, f"glia-confine: killed with every process it started: {why}\n".encode())
        return TREE_EXIT
    if status is None:
        os.write(2, f"glia-confine: killed at the {timeout_s:g} s timeout with every process it started\n".encode())
        return TIMEOUT_EXIT
    return status if status >= 0 else 128 - status


def command(box: Box, argv: list[str], timeout_s: float, iso: Isolation | None = None) -> list[str]:
    """The command line that runs ``argv`` confined in ``box`` through this file as a script."""
    spec = {"box": asdict(box), "iso": asdict(iso or available()), "timeout_s": timeout_s,
            "disable": sorted(_disabled())}
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), json.dumps(spec), "--", *argv]


def _main(args: list[str]) -> int:
    if args[:1] == ["--probe"]:
        print(json.dumps(_probe_here()))
        return 0
    if len(args) < 3 or args[1] != "--":
        print("usage: confine.py SPEC_JSON -- COMMAND [ARG...]  |  confine.py --probe", file=sys.stderr)
        return 2
    spec = json.loads(args[0])
    if spec.get("disable"):
        os.environ[DISABLE_ENV] = ",".join(spec["disable"])
    return launch(Box(**spec["box"]), args[2:], float(spec["timeout_s"]), Isolation(**spec["iso"]))


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
