"""The sandbox's first process: isolate, limit, then run the untrusted code in a child.

Run as ``python -I -S -B -u _boot.py CONFIG`` by :mod:`sandbox.run`, with
stdout and stderr already pointing at unlinked files the parent holds (outside
the workspace), fd 3 a pipe back to the parent and, when tests run, fd 4 the
verdict pipe that only the test runner keeps and fd 5 the runner's modules as
compiled by the parent (read, then closed, before the lockdown). Standard
library only (ctypes for the Linux calls), and it reads everything it needs
*before* it locks itself in. It dies with its parent (``PR_SET_PDEATHSIG``,
checked against a parent that was already gone), and so does the code's first
process.

Steps, each best effort, with what was achieved reported back on fd 3 (one
JSON object per line: the isolation, the child's pid, how the code ended):

1. new user, mount, network and PID namespaces (``unshare``): no network, and
   every process the code starts dies with it (root skips the user namespace
   and later runs the code as ``nobody``);
2. a private root: a tmpfs holding bind mounts of only the interpreter and the
   system folders (read-only), plus the workspace as a tmpfs of its own capped
   at ``disk_mb`` (the files copied in: what the code writes never reaches the
   disk and is gone with the namespace), made the root with ``pivot_root``, so
   nothing else on the machine (home folders, ``/tmp``, sockets such as an
   ssh-agent's or Docker's) even has a path;
3. resource limits (CPU, address space, file size, open files, processes);
4. Landlock: reads only from the interpreter and system folders, writes only
   in the workspace, no TCP, no signals to processes outside the sandbox;
5. a child (PID 1 of the new namespace, niced) runs the code, or the test
   runner (:mod:`sandbox._harness`, which runs the code in a process of its
   own); this process reports its pid, waits for it and reports how it ended.
"""

import _signal as signal  # the C module: the signal package imports enum, ~6 ms of every run
import ctypes
import marshal
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _mounts import private_root  # noqa: E402  (a module of its own, next to this file)

del sys.path[0]
CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWNS = 0x10000000, 0x40000000, 0x20000000, 0x00020000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SYS_LANDLOCK = (444, 445, 446)  # create_ruleset, add_rule, restrict_self: the same on x86_64 and arm64
NOBODY = 65534
FS_READ = 1 | 4 | 8  # execute, read file, read dir
FILE_RIGHTS = 1 | 2 | 4 | (1 << 14) | (1 << 15)  # rights that apply to a single file
STATUS_FD, VERDICT_FD, HARNESS_FD = 3, 4, 5

def report(fields):
    """Write one status line for the parent, as JSON.

    Written by hand: the json package costs ~10 ms to import, and the values here are numbers, booleans
    and fixed words.
    """
    words = {True: "true", False: "false", None: "null"}
    items = ",".join(f'"{k}":' + (words[v] if v is None or isinstance(v, bool) else
                                 f'"{v}"' if isinstance(v, str) else str(int(v))) for k, v in fields.items())
    os.write(STATUS_FD, ("{" + items + "}\n").encode())


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number, *args):
    return _libc.syscall(ctypes.c_long(number), *args)


def die_with_parent(parent):
    """Be killed when ``parent`` ends; exit now if it already has (the race the prctl alone leaves open)."""
    if sys.platform.startswith("linux"):
        _libc.prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0),
                    ctypes.c_ulong(0), ctypes.c_ulong(0))
    if os.getppid() != parent:
        os._exit(1)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def unshare(cut_network):
    """New namespaces for the code; returns (network, pid_namespace).

    Root needs no user namespace (and gains nothing from one: the kernel never applies the process
    limit to root); its code runs as ``nobody`` instead, see :func:`drop_privileges`.
    """
    flags = CLONE_NEWPID | CLONE_NEWNS | (CLONE_NEWNET if cut_network else 0)
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        ok = _libc.unshare(ctypes.c_int(flags)) == 0
        return ("cut" if ok and cut_network else "open"), ok
    if _libc.unshare(ctypes.c_int(flags | CLONE_NEWUSER)) == 0:
        try:  # map our own ids, so files in the workspace keep their owner
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{uid} {uid} 1")
            _write("/proc/self/gid_map", f"{gid} {gid} 1")
        except OSError:
            pass
        return ("cut" if cut_network else "open"), True
    return "open", False


def set_limits(limits):
    for name, value in limits.items():
        which = getattr(resource, name)
        soft = hard = value
        if name == "RLIMIT_CPU":
            hard = value + 1  # SIGXCPU at the soft limit, SIGKILL a second later
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            pass


def landlock(read_paths, write_paths, cut_network):
    """Lock this process and its children in; returns (filesystem, network_blocked) as applied."""
    abi = _syscall(SYS_LANDLOCK[0], ctypes.c_void_p(None), ctypes.c_long(0), ctypes.c_long(1))
    if abi < 1:
        return "open", False
    fs = (1 << 13) - 1
    fs |= (1 << 13) if abi >= 2 else 0
    fs |= (1 << 14) if abi >= 3 else 0
    fs |= (1 << 15) if abi >= 5 else 0
    net = 3 if abi >= 4 and cut_network else 0  # bind and connect TCP
    scoped = 3 if abi >= 6 else 0  # abstract unix sockets and signals
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    attr = ctypes.create_string_buffer(
        fs.to_bytes(8, "little") + net.to_bytes(8, "little") + scoped.to_bytes(8, "little"), 24)
    ruleset = _syscall(SYS_LANDLOCK[0], attr, ctypes.c_long(size), ctypes.c_long(0))
    if ruleset < 0:
        return "open", False
    for paths, rights in ((read_paths, FS_READ), (write_paths, fs)):
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            allowed = rights if os.path.isdir(path) else rights & FILE_RIGHTS
            if path == "/dev/null":
                allowed = 2 | 4  # read and write
            rule = ctypes.create_string_buffer((allowed & fs).to_bytes(8, "little") + fd.to_bytes(4, "little"), 12)
            _syscall(SYS_LANDLOCK[1], ctypes.c_long(ruleset), ctypes.c_long(1), rule, ctypes.c_long(0))
            os.close(fd)
    _libc.prctl(ctypes.c_int(PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
                ctypes.c_ulong(0))
    done = _syscall(SYS_LANDLOCK[2], ctypes.c_long(ruleset), ctypes.c_long(0)) == 0
    os.close(ruleset)
    return ("landlock" if done else "open"), done and net != 0


def hand_to_nobody(workspace, new_root):
    """As root: give the workspace to ``nobody``, who will run the code (before the root changes)."""
    for folder, dirs, files in os.walk(workspace):
        dirs[:] = [d for d in dirs if os.path.join(folder, d) != new_root]
        for name in [folder, *(os.path.join(folder, f) for f in files + dirs)]:
            os.chown(name, NOBODY, NOBODY)


def drop_privileges():
    """Give up privileges before the code runs.

    Root becomes ``nobody`` (which clears its capabilities, and makes the process limit count); anyone else
    gives up the capabilities the new user namespace gave them.
    """
    if os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
        return
    header = ctypes.create_string_buffer((0x20080522).to_bytes(4, "little") + (0).to_bytes(4, "little"), 8)
    data = ctypes.create_string_buffer(24)  # two all-zero {effective, permitted, inheritable} sets
    _libc.capset(header, data)


def read_harness(index):
    """The test runner's modules as code, read before the lockdown.

    They come compiled by the parent (in the memory file on fd 5), or else are compiled here from their files.
    """
    found = []
    for name, path, offset, size in index:
        if offset >= 0:
            found.append((name, path, marshal.loads(os.pread(HARNESS_FD, size, offset))))
        else:
            with open(path, encoding="utf-8") as f:
                found.append((name, path, compile(f.read(), path, "exec")))
    return found


def load_harness(modules):
    """The test runner's modules, as the package ``sandbox`` (read before the lockdown, run after it)."""
    package = type(sys)("sandbox")
    package.__path__ = []
    sys.modules["sandbox"] = package
    for name, path, code in modules:
        module = type(sys)(name)
        module.__file__ = path
        sys.modules[name] = module
        exec(code, vars(module))
        setattr(package, name.rpartition(".")[2], module)
    return sys.modules["sandbox._harness"]


def run_code(cfg, harness):
    """In the child: run the entry file as ``__main__``, or the tests through the harness; never returns."""
    status = 0
    try:
        os.chdir(cfg["workspace"])
        if harness is not None:  # the test runner keeps the workspace off its path: S could plant modules there
            status = load_harness(harness).main(cfg, _libc)
        else:
            sys.path[:0] = [cfg["workspace"]]
            path = os.path.join(cfg["workspace"], cfg["entry"])
            sys.argv = [cfg["entry"]]
            with open(path, encoding="utf-8") as f:
                source = f.read()
            exec(compile(source, path, "exec"), {"__name__": "__main__", "__file__": path})
    except SystemExit as exc:
        code = exc.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(status & 0xFF)


def main():
    cfg = marshal.loads(bytes.fromhex(sys.argv[1]))  # written by the parent (sandbox/run.py)
    die_with_parent(cfg["parent"])
    harness = read_harness(cfg["harness"]) if cfg.get("harness") else None
    os.closerange((VERDICT_FD if harness else STATUS_FD) + 1, 65536)  # nothing else reaches the code
    found, quota = {"pid_namespace": False, "network": "open", "filesystem": "open"}, False
    if sys.platform.startswith("linux"):
        found["network"], found["pid_namespace"] = unshare(cfg["cut_network"])
        if os.geteuid() == 0 and found["pid_namespace"]:
            hand_to_nobody(cfg["workspace"], cfg["new_root"])
        chrooted, quota = private_root(cfg["read"], cfg["write"], cfg["new_root"], cfg["workspace"],
                                       cfg["disk_mb"]) if found["pid_namespace"] else (False, False)
    set_limits(cfg["limits"])
    if sys.platform.startswith("linux"):
        locked, tcp_blocked = landlock(cfg["read"], cfg["write"], cfg["cut_network"])
        found["filesystem"] = {(True, True): "isolated", (True, False): "private-root",
                                (False, True): "landlock", (False, False): "open"}[chrooted, locked == "landlock"]
        if tcp_blocked and found["network"] == "open":
            found["network"] = "tcp-blocked"
        if chrooted or os.geteuid() != 0:  # nobody could not reach an interpreter kept under /root
            drop_privileges()
            die_with_parent(cfg["parent"])  # a change of user clears the parent-death signal
    found["disk"] = "quota" if quota and found["filesystem"] in ("isolated", "private-root") else "host"
    report(found)
    alive, held = os.pipe()  # the child sees EOF on `alive` once this process is gone
    child = os.fork()
    if child == 0:
        os.close(STATUS_FD)
        os.close(held)
        signal.signal(signal.SIGXCPU, signal.SIG_DFL)  # the CPU limit ends the code (the parent may ignore it)
        os.nice(10)  # runaway code must not starve this process (it stops the code) or the user's machine
        if sys.platform.startswith("linux"):
            _libc.prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0),
                        ctypes.c_ulong(0), ctypes.c_ulong(0))
        os.set_blocking(alive, False)
        try:
            if os.read(alive, 1) == b"":  # this process died before the prctl: nobody would kill the child
                os._exit(1)
        except BlockingIOError:
            pass
        os.close(alive)
        run_code(cfg, harness)
    os.close(alive)
    if harness is not None:
        os.close(VERDICT_FD)  # the test runner alone holds it
    # At the deadline the parent kills the child and waits for this process to report: as PID 1 of
    # the namespace, the child is reaped only once every process in the namespace is gone.
    report({"child": child})
    _, status = os.waitpid(child, 0)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the code's processes that were reaped
    end = {"exit_code": os.waitstatus_to_exitcode(status), "peak_rss": peak_kb}
    report(end)
    os._exit(0)


if __name__ == "__main__":
    main()
