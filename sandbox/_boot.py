"""The sandbox's first process: isolate, limit, then run the untrusted code in a child.

Run as ``python -I -S -B -u _boot.py CONFIG_JSON`` by :mod:`sandbox.run`, with
stdout and stderr already pointing at files in the workspace and fd 3 a pipe
back to the parent. Standard library only (ctypes for the Linux calls), and
it reads everything it needs *before* it locks itself in.

Steps, each best effort and reported back on fd 3 as one JSON object:

1. a new user, network and PID namespace (``unshare``): no network, and every
   process the code starts dies with it;
2. resource limits (CPU, address space, file size, open files, processes);
3. Landlock: reads only from the interpreter and system folders, writes only
   in the workspace, no TCP, no signals to processes outside the sandbox;
4. a child (PID 1 of the new namespace, niced) runs the code; this process
   reports its pid, waits for it and reports how it ended.
"""

import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWPID = 0x10000000, 0x40000000, 0x20000000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SYS_LANDLOCK = (444, 445, 446)  # create_ruleset, add_rule, restrict_self: the same on x86_64 and arm64
FS_READ = 1 | 4 | 8  # execute, read file, read dir
FILE_RIGHTS = 1 | 2 | 4 | (1 << 14) | (1 << 15)  # rights that apply to a single file
STATUS_FD = 3

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number, *args):
    return _libc.syscall(ctypes.c_long(number), *args)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def unshare(cut_network):
    """New namespaces for the code; returns (network, pid_namespace)."""
    flags = CLONE_NEWPID | (CLONE_NEWNET if cut_network else 0)
    uid, gid = os.geteuid(), os.getegid()
    if _libc.unshare(ctypes.c_int(flags | CLONE_NEWUSER)) == 0:
        try:  # map our own ids, so files in the workspace keep their owner
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{uid} {uid} 1")
            _write("/proc/self/gid_map", f"{gid} {gid} 1")
        except OSError:
            pass
    elif _libc.unshare(ctypes.c_int(flags)) != 0:  # root without user namespaces
        return "open", False
    return ("cut" if cut_network else "open"), True


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


def drop_capabilities():
    """Root inside the new user namespace still holds capabilities there: give them all up."""
    header = ctypes.create_string_buffer((0x20080522).to_bytes(4, "little") + (0).to_bytes(4, "little"), 8)
    data = ctypes.create_string_buffer(24)  # two all-zero {effective, permitted, inheritable} sets
    _libc.capset(header, data)


def run_code(cfg, harness):
    """In the child: run the entry file as ``__main__``, or the tests through the harness; never returns."""
    status = 0
    try:
        os.chdir(cfg["workspace"])
        sys.path[:0] = [cfg["workspace"]]
        if harness is not None:
            namespace = {"__name__": "_huddle_harness"}
            exec(compile(harness, "<huddle test harness>", "exec"), namespace)
            status = namespace["main"](cfg)
        else:
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
    cfg = json.loads(sys.argv[1])
    os.closerange(STATUS_FD + 1, 65536)  # nothing the parent had open reaches the code
    harness = None
    if cfg.get("harness"):
        with open(cfg["harness"], encoding="utf-8") as f:
            harness = f.read()
    report = {"pid_namespace": False, "network": "open", "filesystem": "open"}
    if sys.platform.startswith("linux"):
        report["network"], report["pid_namespace"] = unshare(cfg["cut_network"])
    set_limits(cfg["limits"])
    if sys.platform.startswith("linux"):
        report["filesystem"], tcp_blocked = landlock(cfg["read"], cfg["write"], cfg["cut_network"])
        if tcp_blocked and report["network"] == "open":
            report["network"] = "tcp-blocked"
        drop_capabilities()
    os.write(STATUS_FD, (json.dumps(report) + "\n").encode())
    child = os.fork()
    if child == 0:
        os.close(STATUS_FD)
        signal.signal(signal.SIGXCPU, signal.SIG_DFL)  # the CPU limit ends the code (the parent may ignore it)
        os.nice(10)  # runaway code must not starve this process (it stops the code) or the user's machine
        if sys.platform.startswith("linux"):
            _libc.prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0),
                        ctypes.c_ulong(0), ctypes.c_ulong(0))
        run_code(cfg, harness)
    # At the deadline the parent kills this process group and the child, then waits for the child:
    # as PID 1 of the namespace, it is gone only once every process in the namespace is.
    os.write(STATUS_FD, (json.dumps({"child": child}) + "\n").encode())
    _, status = os.waitpid(child, 0)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the code's processes that were reaped
    end = {"exit_code": os.waitstatus_to_exitcode(status), "peak_rss": peak_kb}
    os.write(STATUS_FD, (json.dumps(end) + "\n").encode())
    os._exit(0)


if __name__ == "__main__":
    main()
