"""The test runner's view of the solution: handles that forward to the solution's process (standard library only).

The test runner T never imports the solution. Each of the solution's
top-level names is, in T, either plain data (a constant) or a
:class:`Handle`: calling it, reading an attribute, indexing, iterating, asking
its length or its text all go to the solution's process S over a pipe
(:class:`Link`), and what comes back is plain data built by T
(:mod:`sandbox._wire`) or another handle. A handle is equal only to itself and
has no ordering, so no object of the solution ever decides a comparison; an
exception in S comes back as the nearest builtin exception type with its
message.
"""

import builtins
import os
import signal

from sandbox import _wire as wire

_OPS = ("repr", "str", "len", "iter", "next", "getitem", "setitem", "delitem", "contains")


class Link:
    """T's end of the pipes to the solution's process ``pid``."""

    def __init__(self, pid, to_solution, from_solution):
        self.pid, self._out, self._in = pid, to_solution, from_solution
        self.gone = None
        """Why the solution's process can no longer answer (every later call fails with it)."""
        self._handles = {}

    def first(self):
        """The solution's first word: ``("names", {name: value})`` or ``("import", failure text)``."""
        reply = self._receive()
        if type(reply) is list and len(reply) == 2 and reply[0] == "import" and type(reply[1]) is str:
            return "import", reply[1][:4000]
        if type(reply) is list and len(reply) == 2 and reply[0] == "names" and type(reply[1]) is list:
            names = {}
            for item in reply[1]:
                if type(item) is not list or len(item) != 2 or type(item[0]) is not str \
                        or not item[0].isidentifier():
                    self._lost("the solution's process sent a malformed list of names")
                names[item[0]] = self._decode(item[1])
            return "names", names
        self._lost("the solution's process sent a malformed first reply")

    def ask(self, message, restore=None):
        """Send one request; the decoded answer, or the exception S reported raised here."""
        if self.gone:
            raise RuntimeError(self.gone)
        try:
            wire.write_frame(self._out, message)
        except OSError:
            self._lost("the solution's process ended")
        reply = self._receive()
        if type(reply) is list and len(reply) == 3 and reply[0] == "err" and type(reply[1]) is str \
                and type(reply[2]) is str:
            raise _exception(reply[1], reply[2][:4000])
        if type(reply) is not list or len(reply) not in (2, 4) or reply[0] != "ok":
            self._lost("the solution's process sent a malformed reply")
        value = self._decode(reply[1])
        if restore is not None and len(reply) == 4:
            _restore(restore, self._decode(reply[2]), self._decode(reply[3]))
        return value

    def encode(self, value):
        """``value`` (the test's) as data for S; a handle goes as its number, a function of the test not at all."""
        def number(obj):
            if isinstance(obj, Handle) and obj._link is self:
                return obj._number
            raise TypeError(f"a test cannot pass {type(obj).__name__} objects to the solution")

        try:
            return wire.encode(value, number)
        except wire.TooBig:
            raise ValueError("the value is too large to pass to the solution") from None

    def close(self):
        """End the solution's process (at the end of the run, or when it misbehaved)."""
        for fd in (self._out, self._in):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except OSError:
            pass

    def _receive(self):
        try:
            return wire.read_frame(self._in)
        except (OSError, EOFError):
            self._lost("the solution's process ended before it answered")
        except wire.WireError as exc:
            self._lost(f"the solution's process sent something that is not data ({exc})")

    def _decode(self, data):
        try:
            return wire.decode(data, self._handle)
        except wire.WireError as exc:
            self._lost(f"the solution's process sent something that is not data ({exc})")

    def _handle(self, number):
        if number not in self._handles:
            self._handles[number] = Handle(self, number)
        return self._handles[number]

    def _lost(self, why):
        self.gone = why
        self.close()
        raise RuntimeError(why)


def _exception(name, message):
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            return kind(message) if message else kind()
        except Exception:
            pass
    return RuntimeError(f"the solution raised {name[:100]}: {message}")


def _restore(originals, args, kwargs):
    """Copy what the solution did to mutable arguments back into the test's own objects."""
    before_args, before_kwargs = originals
    pairs = list(zip(before_args, args if type(args) is list else [], strict=False))
    if type(kwargs) is dict:
        pairs += [(v, kwargs[k]) for k, v in before_kwargs.items() if k in kwargs]
    for old, new in pairs:
        if type(old) is type(new) and type(old) in (list, bytearray):
            old[:] = new
        elif type(old) is type(new) and type(old) in (dict, set):
            old.clear()
            old.update(new)


class Handle:
    """An object that stays in the solution's process; what T does with it is forwarded there."""

    __slots__ = ("_link", "_number")

    def __init__(self, link, number):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_number", number)

    def _op(self, op, *args):
        return self._link.ask(["op", self._number, op, self._link.encode(list(args))])

    def __call__(self, *args, **kwargs):
        message = ["call", self._number, self._link.encode(list(args)), self._link.encode(kwargs)]
        return self._link.ask(message, restore=(args, kwargs))

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._link.ask(["getattr", self._number, name])

    def __setattr__(self, name, value):
        self._link.ask(["setattr", self._number, name, self._link.encode(value)])

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def __hash__(self):
        return object.__hash__(self)

    def __bool__(self):
        return True

    def __repr__(self):
        return self._text("repr")

    def __str__(self):
        return self._text("str")

    def _text(self, op):
        try:
            text = self._op(op)
        except Exception:
            text = None
        return text[:2000] if type(text) is str else f"<solution object #{self._number}>"

    def __len__(self):
        size = self._op("len")
        if type(size) is not int or size < 0:
            raise TypeError("the solution's __len__ did not return a non-negative int")
        return size

    def __iter__(self):
        it = self._op("iter")
        if not isinstance(it, Handle):
            raise TypeError("the solution's __iter__ did not return an iterator")
        return it

    def __next__(self):
        return self._op("next")

    def __getitem__(self, key):
        return self._op("getitem", key)

    def __setitem__(self, key, value):
        self._op("setitem", key, value)

    def __delitem__(self, key):
        self._op("delitem", key)

    def __contains__(self, item):
        found = self._op("contains", item)
        if type(found) is not bool:
            raise TypeError("the solution's __contains__ did not return a bool")
        return found
