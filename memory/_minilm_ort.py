"""The same BERT forward pass as :mod:`memory._minilm`, as an ONNX graph run by onnxruntime.

numpy dispatches each of a layer's twenty operations from Python and multiplies with BLAS kernels made for
large matrices; a query is a handful of tokens. onnxruntime runs the whole graph in C++ with kernels made
for such shapes: the same float32 arithmetic, so the same vectors (to float32 rounding), in about half the
time. The graph is built in memory from the weights :class:`~memory._minilm.LeanBert` has loaded (nothing
is written to disk, nothing downloaded) and runs on one thread that never spins, for the reason the numpy
pass runs on one BLAS thread.

The graph is written as ONNX's protobuf by the few lines below (importing the ``onnx`` package alone
takes longer than building the graph). ``onnxruntime`` is a dependency (chromadb's too); where it cannot
be imported or refuses the graph, :func:`ort_forward` returns ``None`` and the numpy pass is used.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["ort_forward"]

Forward = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``forward(ids, types)``: a text's token ids and type ids to its mean-pooled (not normalised) vector."""


# -- a minimal ONNX (protobuf) writer: the few messages and fields the graph below uses --------------------
# ONNX's schema (onnx/onnx.proto, proto2): field numbers as there; repeated numbers written unpacked. A message
# is a list of chunks, joined once at the end: the weights (90 MB) are copied once, not once per nesting level.

Chunks = list[bytes | memoryview]


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # a negative int64 is its two's complement
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _int(field: int, n: int) -> Chunks:
    return [_varint(field << 3) + _varint(n)]


def _float(field: int, x: float) -> Chunks:
    return [_varint(field << 3 | 5) + np.float32(x).tobytes()]


def _field(field: int, content: Chunks | bytes | str) -> Chunks:
    """A length-delimited field: a string, bytes, or a nested message's chunks."""
    if isinstance(content, str):
        content = [content.encode()]
    elif isinstance(content, (bytes, memoryview)):
        content = [content]
    return [_varint(field << 3 | 2) + _varint(sum(len(c) for c in content)), *content]


def _join(*parts: Chunks) -> Chunks:
    return [chunk for part in parts for chunk in part]


def _attribute(name: str, value: int | float | list[int]) -> Chunks:
    """An ``AttributeProto``: a float (type 1), an int (2) or a list of ints (7)."""
    if isinstance(value, list):
        return _join(_field(1, name), *(_int(8, v) for v in value), _int(20, 7))
    if isinstance(value, float):
        return _join(_field(1, name), _float(2, value), _int(20, 1))
    return _join(_field(1, name), _int(3, value), _int(20, 2))


def _tensor(name: str, value: np.ndarray) -> Chunks:
    """A ``TensorProto`` holding ``value`` (float32 or int64) as raw little-endian bytes."""
    kind = {np.dtype(np.float32): 1, np.dtype(np.int64): 7}[value.dtype]
    raw = np.ascontiguousarray(value, value.dtype.newbyteorder("<"))  # a scalar comes back with one dimension
    return _join(*(_int(1, d) for d in value.shape), _int(2, kind), _field(8, name), _field(9, raw.data.cast("B")))


def _value_info(name: str, kind: int, dims: list[int | str]) -> Chunks:
    """A ``ValueInfoProto`` of a tensor (``kind``: 1 float, 7 int64); a ``str`` dimension is symbolic."""
    shape = _join(*(_field(1, _field(2, d) if isinstance(d, str) else _int(1, d)) for d in dims))
    return _join(_field(1, name), _field(2, _field(1, _join(_int(1, kind), _field(2, shape)))))


class _Graph:
    """The nodes and weights of the graph being built, as ``NodeProto`` and ``TensorProto`` chunks."""

    def __init__(self) -> None:
        self.nodes: list[Chunks] = []
        self.weights: list[Chunks] = []

    def weight(self, name: str, value) -> str:
        self.weights.append(_tensor(name, np.asarray(value)))
        return name

    def op(self, kind: str, *inputs: str, out: str = "", **attributes: int | float | list[int]) -> str:
        out = out or f"{kind.lower()}{len(self.nodes)}"
        self.nodes.append(_join(*(_field(1, i) for i in inputs), _field(2, out), _field(4, kind),
                                *(_field(5, _attribute(k, v)) for k, v in attributes.items())))
        return out

    def model(self, inputs: list[Chunks], outputs: list[Chunks]) -> bytes:
        """The serialised ``ModelProto``: IR version 8, the default opset 18."""
        graph = _join(*(_field(1, n) for n in self.nodes), _field(2, "sentence-bert"),
                      *(_field(5, w) for w in self.weights), *(_field(11, i) for i in inputs),
                      *(_field(12, o) for o in outputs))
        return b"".join(_join(_int(1, 8), _field(8, _join(_field(1, ""), _int(2, 18))), _field(7, graph)))


def _build(w: dict[str, np.ndarray], layers: int, heads: int, dim: int, eps: float) -> bytes:
    """The serialised ONNX model: ``ids``, ``positions`` and ``types`` (int64, ``[1, n]``) to ``pooled``."""
    g = _Graph()
    size = dim // heads

    def norm(x: str, prefix: str) -> str:
        return g.op("LayerNormalization", x, g.weight(prefix + ".g", w[prefix + ".weight"]),
                    g.weight(prefix + ".b", w[prefix + ".bias"]), axis=-1, epsilon=float(eps))

    def dense(x: str, prefix: str) -> str:
        return g.op("Add", g.op("MatMul", x, g.weight(prefix + ".w", w[prefix + ".weight"])),
                    g.weight(prefix + ".c", w[prefix + ".bias"]))

    emb = "embeddings."
    x = g.op("Add", g.op("Add", g.op("Gather", g.weight("words", w[emb + "word_embeddings.weight"]), "ids"),
                         g.op("Gather", g.weight("places", w[emb + "position_embeddings.weight"]), "positions")),
             g.op("Gather", g.weight("kinds", w[emb + "token_type_embeddings.weight"]), "types"))
    x = norm(x, emb + "LayerNorm")
    by_head = g.weight("by_head", np.array([1, -1, 3, heads, size], dtype=np.int64))
    joined = g.weight("joined", np.array([1, -1, dim], dtype=np.int64))
    scale = g.weight("scale", np.float32(1 / np.sqrt(size)))
    half, one = g.weight("half", np.float32(0.5)), g.weight("one", np.float32(1.0))
    root_half = g.weight("root_half", np.float32(1 / np.sqrt(2.0)))
    parts = [g.weight(f"part{j}", np.int64(j)) for j in range(3)]
    for i in range(layers):
        p = f"encoder.layer.{i}."
        qkv = g.op("Transpose", g.op("Reshape", dense(x, p + "qkv"), by_head), perm=[2, 0, 3, 1, 4])  # 3,1,h,n,s
        q, k, v = (g.op("Gather", qkv, part, axis=0) for part in parts)
        scores = g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])), scale)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), joined)
        x = norm(g.op("Add", dense(context, p + "attention.output.dense"), x), p + "attention.output.LayerNorm")
        inner = dense(x, p + "intermediate.dense")
        gelu = g.op("Mul", g.op("Mul", inner, half), g.op("Add", g.op("Erf", g.op("Mul", inner, root_half)), one))
        x = norm(g.op("Add", dense(gelu, p + "output.dense"), x), p + "output.LayerNorm")
    g.op("ReduceMean", x, g.weight("tokens", np.array([1], dtype=np.int64)), out="pooled", keepdims=0)
    inputs = [_value_info(name, 7, [1, "n"]) for name in ("ids", "positions", "types")]
    return g.model(inputs, [_value_info("pooled", 1, [1, dim])])


def ort_forward(w: dict[str, np.ndarray], layers: int, heads: int, dim: int, eps: float) -> Forward | None:
    """The forward pass of the weights ``w`` (as :class:`~memory._minilm.LeanBert` keeps them) on onnxruntime.

    ``None`` when ``onnxruntime`` cannot be imported or does not take the graph.
    """
    try:
        import onnxruntime as ort

        model = _build(w, layers, heads, dim, eps)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception:  # an import or build failure: the numpy pass computes the same vectors
        return None

    def forward(ids: np.ndarray, types: np.ndarray) -> np.ndarray:
        n = len(ids)
        feed = {"ids": ids.reshape(1, n).astype(np.int64), "positions": np.arange(n, dtype=np.int64).reshape(1, n),
                "types": types.reshape(1, n).astype(np.int64)}
        return session.run(["pooled"], feed)[0][0]

    return forward
