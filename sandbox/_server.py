"""The solution's process S: imports the solution and answers the test runner's requests (standard library only).

S is forked by the test runner T (:mod:`sandbox._harness`) inside the locked
sandbox and holds nothing of T's but two pipes: it cannot write a verdict.
Its first frame is the solution's top-level names as data or handles (or why
the import failed); then each request (call, attribute, operation, one of the
solution's own ``test_*`` functions) gets one reply: ``["ok", value]`` (a
call adds its arguments after the call, so in-place changes reach the test),
``["err", builtin exception name, message]``.
"""

import operator
import os
import sys

from sandbox import _wire as wire
from sandbox._explain import explain

_OPS = {"repr": repr, "str": str, "len": len, "iter": iter, "next": next, "getitem": operator.getitem,
        "setitem": operator.setitem, "delitem": operator.delitem, "contains": operator.contains}


class _Objects:
    """Objects that stay here, by number (kept alive so the numbers stay valid)."""

    def __init__(self):
        self._by_number, self._by_id = [], {}

    def number(self, obj):
        key = id(obj)
        if key not in self._by_id:
            self._by_id[key] = len(self._by_number)
            self._by_number.append(obj)
        return self._by_id[key]

    def get(self, number):
        if not 0 <= number < len(self._by_number):
            raise wire.WireError(f"no object #{number}")
        return self._by_number[number]


def _data(value, objects):
    """``value`` as data, or as a handle when it is too big or its attributes misbehave."""
    try:
        return wire.encode(value, objects.number)
    except Exception:
        return {"t": "h", "v": objects.number(value)}


def _builtin_name(exc):
    return next((k.__name__ for k in type(exc).__mro__ if k.__module__ == "builtins"), "Exception")


def serve(path, source, requests, replies, workspace):
    """Import the solution from ``source`` (as ``solution``) and answer requests until T closes the pipe."""
    sys.path.insert(0, workspace)  # its own modules next to it (the runner never has the workspace on its path)
    module = type(sys)("solution")
    module.__file__ = path
    sys.modules["solution"] = module
    objects = _Objects()
    try:
        exec(compile(source, path, "exec"), vars(module))
    except BaseException as exc:  # SystemExit too: the solution did not import
        _send(replies, ["import", explain(exc, path)])
        os._exit(0)
    names = [[k, _data(v, objects)] for k, v in list(vars(module).items()) if not k.startswith("__")]
    _send(replies, ["names", names])
    while True:
        try:
            request = wire.read_frame(requests)
        except (OSError, EOFError, wire.WireError):
            os._exit(0)
        try:
            reply = _answer(request, module, objects, path)
        except BaseException as exc:
            reply = ["err", _builtin_name(exc), _message(exc)]
        _send(replies, reply)


def _message(exc):
    try:
        return str(exc)[:4000]
    except BaseException:
        return ""


def _answer(request, module, objects, path):
    kind, number = request[0], request[1]
    if kind == "test":
        test = getattr(module, number)
        try:
            test()
        except BaseException as exc:  # SystemExit and KeyboardInterrupt from the code count as failures too
            return ["ok", explain(exc, path)]
        return ["ok", None]
    target = objects.get(number)
    if kind == "call":
        args, kwargs = wire.decode(request[2], objects.get), wire.decode(request[3], objects.get)
        result = target(*args, **kwargs)
        return ["ok", _data(result, objects), _data(args, objects), _data(kwargs, objects)]
    if kind == "getattr":
        return ["ok", _data(getattr(target, str(request[2])), objects)]
    if kind == "setattr":
        setattr(target, str(request[2]), wire.decode(request[3], objects.get))
        return ["ok", None]
    if kind == "op" and request[2] in _OPS:
        args = wire.decode(request[3], objects.get)
        # _OPS mixes builtins of different signatures (mypy joins them to object); the request picks one.
        return ["ok", _data(_OPS[request[2]](target, *args), objects)]  # type: ignore[operator]
    raise ValueError(f"unknown request {kind!r}")


def _send(fd, message):
    try:
        wire.write_frame(fd, message)
    except Exception:
        os._exit(0)
