"""Plain data between the test runner and the process that imported the solution (standard library only).

Runs inside the sandbox, on both sides of the pipe pair that links the test
runner T to the solution's process S (see :mod:`sandbox._harness`). Frames are
a 4-byte length and a JSON document. What T decodes can only ever be plain
data built by T itself: ``None``, ``bool``, ``int``, ``float``, ``complex``,
``str``, ``bytes``, ``bytearray``, ``list``, ``tuple``, ``dict``, ``set``,
``frozenset`` (and ``Fraction``/``Decimal``), recursively, up to
:data:`MAX_DEPTH` deep and :data:`MAX_FRAME` bytes; a namedtuple arrives as a
namedtuple of the same fields, a dataclass as a :class:`Record` of its fields.
Any other object stays in S and is named by a handle number, which the caller
turns into whatever stands for it (:class:`sandbox._proxy.Handle` in T).
"""

import json
import os

MAX_DEPTH = 48
"""Nesting allowed in one value; deeper values stay behind as a handle."""
MAX_ITEMS = 200_000
"""Containers and elements in one value; bigger values stay behind as a handle."""
MAX_FRAME = 8 << 20
"""Largest frame read, in bytes; a bigger one means the other side is broken (or hostile)."""


class WireError(Exception):
    """A frame that is not well-formed data: the other side is broken or hostile."""


class TooBig(Exception):
    """A value too deep or too large to travel as data."""


class Record:
    """A dataclass instance that came back as its fields: equal to a record of the same name and fields."""

    __slots__ = ("_name", "_fields")

    def __init__(self, name, fields):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_fields", dict(fields))

    def __getattr__(self, name):
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(f"{self._name!r} has no field {name!r}") from None

    def __setattr__(self, name, value):
        self._fields[name] = value

    def __eq__(self, other):
        return isinstance(other, Record) and (self._name, self._fields) == (other._name, other._fields)

    def __ne__(self, other):
        return not self == other

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable (like dict)

    def __repr__(self):
        return f"{self._name}({', '.join(f'{k}={v!r}' for k, v in self._fields.items())})"


def write_frame(fd, message):
    """Send one JSON-able ``message`` on ``fd``."""
    data = json.dumps(message, separators=(",", ":")).encode()
    data = len(data).to_bytes(4, "big") + data
    while data:
        data = data[os.write(fd, data):]


def read_frame(fd):
    """The next message on ``fd``; EOFError when the other side is gone, WireError when it is malformed."""
    size = int.from_bytes(_read_exact(fd, 4), "big")
    if size > MAX_FRAME:
        raise WireError(f"a frame of {size:,} bytes (at most {MAX_FRAME:,})")
    try:
        return json.loads(_read_exact(fd, size))
    except (ValueError, RecursionError) as exc:
        raise WireError(f"not JSON: {exc}") from None


def _read_exact(fd, size):
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def encode(value, handle_of, depth=0, budget=None):
    """``value`` as JSON-able data; objects that are not data become ``{"t": "h", "v": handle_of(obj)}``.

    Raises:
        TooBig: deeper than :data:`MAX_DEPTH` or more than :data:`MAX_ITEMS` items.
        TypeError: an object that is not data, when ``handle_of`` is None.
    """
    budget = [MAX_ITEMS] if budget is None else budget
    budget[0] -= 1
    if depth > MAX_DEPTH or budget[0] < 0:
        raise TooBig("too deep or too large to travel as data")
    kind = type(value)
    if value is None or kind in (bool, str, float):
        return value
    if kind is int:
        return value if -(1 << 62) < value < (1 << 62) else {"t": "int", "v": str(value)}
    down = depth + 1
    if kind is list:
        return [encode(v, handle_of, down, budget) for v in value]
    if isinstance(value, tuple) and hasattr(type(value), "_fields"):
        return {"t": "nt", "n": kind.__name__, "f": [str(f) for f in kind._fields],
                "v": [encode(v, handle_of, down, budget) for v in value]}
    tag = _TAGS.get(kind) or _NUMBER_TAGS.get((kind.__module__, kind.__qualname__))
    if tag is None and hasattr(kind, "__dataclass_fields__") and not isinstance(value, type):
        return {"t": "dc", "n": kind.__name__,
                "v": [[str(f), encode(getattr(value, f), handle_of, down, budget)] for f in kind.__dataclass_fields__]}
    if tag is None:
        base = next((b for b in (bool, int, float, str, bytes, dict, list, tuple) if isinstance(value, b)), None)
        if base is not None and not isinstance(value, type):  # a subclass (an IntEnum, a Counter): its plain value
            return encode(base(value), handle_of, depth, budget)
        if handle_of is None:
            raise TypeError(f"{kind.__name__} objects cannot be passed to the solution")
        return {"t": "h", "v": handle_of(value)}
    if tag == "dict":
        return {"t": tag, "v": [[encode(k, handle_of, down, budget), encode(v, handle_of, down, budget)]
                                for k, v in value.items()]}
    if tag in ("tuple", "set", "frozenset"):
        return {"t": tag, "v": [encode(v, handle_of, down, budget) for v in value]}
    if tag in ("bytes", "bytearray"):
        return {"t": tag, "v": bytes(value).hex()}
    if tag == "complex":
        return {"t": tag, "v": [value.real, value.imag]}
    if tag == "fraction":
        return {"t": tag, "v": [str(value.numerator), str(value.denominator)]}
    return {"t": tag, "v": str(value)}  # decimal


_TAGS = {dict: "dict", tuple: "tuple", set: "set", frozenset: "frozenset", bytes: "bytes", bytearray: "bytearray",
         complex: "complex"}
_NUMBER_TAGS = {("fractions", "Fraction"): "fraction", ("decimal", "Decimal"): "decimal"}
"""By name: their modules load only where they are used (``fractions`` costs a few ms)."""


def decode(data, from_handle, depth=0):
    """Build the value ``data`` describes out of fresh builtin objects; handles through ``from_handle(number)``.

    Raises:
        WireError: anything that is not exactly the shape :func:`encode` writes.
    """
    if depth > MAX_DEPTH + 1:
        raise WireError("too deep")
    kind = type(data)
    if data is None or kind in (bool, str, int, float):
        return data
    down = depth + 1
    if kind is list:
        return [decode(v, from_handle, down) for v in data]
    if kind is not dict or type(data.get("t")) is not str:
        raise WireError(f"unexpected {kind.__name__}")
    tag, value = data["t"], data.get("v")
    try:
        return _decode_tagged(tag, value, data, from_handle, down)
    except WireError:
        raise
    except (TypeError, ValueError, KeyError, ArithmeticError, AttributeError) as exc:
        raise WireError(f"bad {tag!r} value: {exc}") from None


def _decode_tagged(tag, value, data, from_handle, down):
    def items():
        if type(value) is not list:
            raise WireError(f"{tag!r} needs a list")
        return [decode(v, from_handle, down) for v in value]

    if tag == "h" and type(value) is int:
        return from_handle(value)
    if tag == "int" and type(value) is str:
        return int(value)
    if tag in ("tuple", "set", "frozenset"):
        return {"tuple": tuple, "set": set, "frozenset": frozenset}[tag](items())
    if tag == "dict":
        return {k: v for k, v in (_pair(p) for p in items())}
    if tag in ("bytes", "bytearray") and type(value) is str:
        return (bytes if tag == "bytes" else bytearray)(bytes.fromhex(value))
    if tag == "complex":
        re, im = items()
        if type(re) is not float or type(im) is not float:
            raise WireError("complex needs two floats")
        return complex(re, im)
    if tag == "nt":
        fields = data.get("f")
        if type(fields) is not list or not all(type(f) is str and f.isidentifier() for f in fields):
            raise WireError("namedtuple fields must be names")
        return _namedtuple(str(data.get("n")), tuple(fields))(*items())
    if tag == "dc":
        pairs = [_pair(p) for p in items()]
        if not all(type(k) is str for k, _ in pairs):
            raise WireError("dataclass fields must be names")
        return Record(str(data.get("n"))[:100], pairs)
    if tag in ("fraction", "decimal"):
        import decimal
        import fractions

        if tag == "decimal" and type(value) is str:
            return decimal.Decimal(value)
        num, den = items()
        return fractions.Fraction(int(num), int(den))
    raise WireError(f"unknown tag {tag!r}")


def _pair(item):
    if type(item) is not list or len(item) != 2:
        raise WireError("expected a [key, value] pair")
    return item[0], item[1]


_NAMEDTUPLES = {}


def _namedtuple(name, fields):
    import collections

    key = (name, fields)
    if key not in _NAMEDTUPLES:
        safe = name if name.isidentifier() else "Record"
        _NAMEDTUPLES[key] = collections.namedtuple(safe, fields, rename=True)
    return _NAMEDTUPLES[key]
