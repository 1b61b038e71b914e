"""Mounts for the sandbox's private root (standard library only; imported by ``_boot.py`` before the lockdown).

The new root is a small tmpfs holding read-only bind mounts of the interpreter
and the system folders, and the workspace as a tmpfs of its own, capped at
``disk_mb`` MiB, with the parent's files copied in: what the code writes never
reaches the host disk and is gone with the mount namespace.
"""

import ctypes
import os

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
LOCKED_FLAGS = 2 | 4 | 8 | 1024 | 2048 | 4096  # nosuid, nodev, noexec, atime flags: a remount must keep them
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41}.get(os.uname().machine)
MNT_DETACH = 2
NOBODY = 65534

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number, *args):
    return _libc.syscall(ctypes.c_long(number), *args)


def _mount(source, target, fstype, flags, data=None):
    def enc(value):
        return value.encode() if isinstance(value, str) else value

    if _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), target)


def fill_workspace(source, target):
    """Copy the parent's files (folders and regular files only, never through a link) into ``target``."""
    owner = NOBODY if os.geteuid() == 0 else None
    for folder, dirs, files in os.walk(source):
        rel = os.path.relpath(folder, source)
        dirs[:] = [d for d in dirs if not (rel == "." and d == ".huddle")]
        dest = os.path.normpath(os.path.join(target, rel))
        os.makedirs(dest, exist_ok=True)
        for name in files:
            try:
                fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            with open(fd, "rb") as src:
                if (os.fstat(fd).st_mode & 0o170000) != 0o100000:  # not a regular file
                    continue
                with open(os.path.join(dest, name), "xb") as out:
                    out.write(src.read())
            if owner is not None:
                os.chown(os.path.join(dest, name), owner, owner)
        if owner is not None:
            os.chown(dest, owner, owner)


def mount_workspace(path, inside, disk_mb):
    """The workspace as a tmpfs of ``disk_mb`` MiB holding a copy of its files; False if that cannot be done."""
    owner = f",uid={NOBODY},gid={NOBODY}" if os.geteuid() == 0 else ""
    try:
        _mount("tmpfs", inside, "tmpfs", MS_NOSUID | MS_NODEV,
               f"size={disk_mb}m,nr_inodes={max(1024, disk_mb * 256)},mode=700{owner}")
    except OSError:
        return False
    try:
        fill_workspace(path, inside)
    except OSError:
        _libc.umount2(inside.encode(), ctypes.c_int(MNT_DETACH))  # then the workspace itself is bound
        return False
    return True


def private_root(read_paths, write_paths, new_root, workspace=None, disk_mb=0):
    """Bind only these paths into a fresh tmpfs at ``new_root`` and make it the root.

    ``workspace`` (one of ``write_paths``) becomes a tmpfs of ``disk_mb`` MiB with its files copied in.
    Returns (whether the root changed, whether the workspace got its quota).

    ``pivot_root`` (not ``chroot``): the old tree is detached, so Landlock, which checks a path by
    walking up through mount points, never reaches the workspace above ``new_root``.
    """
    if SYS_PIVOT_ROOT is None:
        return False, False
    quota = False
    try:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates back to the machine
        _mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
        bound: list[str] = []
        for path, writable in sorted([(p, False) for p in read_paths] + [(p, True) for p in write_paths]):
            if path == "/" or any(path.startswith(b + "/") for b in bound) or not os.path.lexists(path):
                continue
            inside = new_root + path
            os.makedirs(os.path.dirname(inside), exist_ok=True)
            if os.path.islink(path):  # /bin -> usr/bin and the like: the same link, resolved in the new root
                os.symlink(os.readlink(path), inside)
                continue
            if os.path.isdir(path):
                os.makedirs(inside, exist_ok=True)
            else:
                open(inside, "a").close()
            if path == workspace and disk_mb and mount_workspace(path, inside, disk_mb):
                bound.append(path)
                quota = True
                continue
            _mount(path, inside, None, MS_BIND | (0 if writable else MS_REC))
            if not writable:
                try:
                    locked = os.statvfs(path).f_flag & LOCKED_FLAGS
                    _mount(None, inside, None, MS_REMOUNT | MS_BIND | MS_RDONLY | locked)
                except OSError:
                    pass  # Landlock still refuses writes there
            bound.append(path)
        os.mkdir(new_root + "/.old")
        if _syscall(SYS_PIVOT_ROOT, new_root.encode(), (new_root + "/.old").encode()) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), new_root)
        os.chdir("/")
        if _libc.umount2(b"/.old", ctypes.c_int(MNT_DETACH)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), "/.old")
        os.rmdir("/.old")
        _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        return True, quota
    except OSError:
        return False, False
