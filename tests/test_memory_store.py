"""VectorMemory conformance: the same behaviour on in-memory, embedded (persistent) and server chromadb."""

from __future__ import annotations

import threading

import pytest

from memory import MemoryItem, MemoryStoreError, VectorMemory, get_embedder
from memory.embedder import HashEmbedder

BACKENDS = ["ephemeral", "persistent", "server"]


def _opener(request, tmp_path, namespace):
    backend = request.param
    url = request.getfixturevalue("chroma_server") if backend == "server" else None

    def make(ns: str = namespace, embedder=None) -> VectorMemory:
        embedder = embedder or get_embedder("hash")
        if backend == "ephemeral":
            return VectorMemory(ns, embedder=embedder, ephemeral=True)
        if backend == "persistent":
            return VectorMemory(ns, embedder=embedder, path=tmp_path / "mem")
        return VectorMemory(ns, embedder=embedder, url=url)

    return make


@pytest.fixture(params=BACKENDS)
def open_memory(request, tmp_path, namespace):
    """A function that opens (or reopens) this test's memory on one backend."""
    return _opener(request, tmp_path, namespace)


@pytest.fixture(params=["persistent", "server"])
def open_durable_memory(request, tmp_path, namespace):
    """The same, on the backends that keep data after the client goes."""
    return _opener(request, tmp_path, namespace)


DOCS = [
    "Store every timestamp in UTC and convert to local time only when showing it.",
    "Use pytest fixtures with tmp_path for tests that write files.",
    "Sort records with sorted() and a key function instead of writing a custom comparison.",
]


def test_add_search_and_provenance(open_memory):
    mem = open_memory()
    result = mem.add([MemoryItem(t, "knowledge", source=f"doc{i}.md", writer="user", trust="external")
                      for i, t in enumerate(DOCS)])
    assert len(result.added) == 3 and result.duplicates == []
    hits = mem.search("which timezone should timestamps be stored in", k=2)
    assert hits[0].text == DOCS[0] and hits[0].source == "doc0.md"
    assert hits[0].score > hits[1].score
    meta = hits[0].metadata
    assert meta["writer"] == "user" and meta["trust"] == "external" and meta["created_at"]
    assert len(meta["content_hash"]) == 64
    assert hits[0].id.startswith("k-")


def test_readding_the_same_text_is_a_no_op(open_memory):
    mem = open_memory()
    first = mem.add([MemoryItem(DOCS[0], "knowledge", source="a.md")])
    again = mem.add([MemoryItem("  " + DOCS[0].replace(" ", "  ") + "\n", "knowledge", source="b.md")])
    assert again.added == [] and again.duplicates == first.added
    assert mem.count()["knowledge"] == 1
    assert mem.get(first.added)[0].source == "a.md"  # the first writer's provenance stays


def test_concurrent_writers_store_each_text_once(open_memory):
    mem = open_memory()
    items = [MemoryItem(f"fact number {i} about the build", "knowledge") for i in range(40)]
    threads = [threading.Thread(target=mem.add, args=(items,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mem.count()["knowledge"] == 40


def test_collections_are_separate_and_namespaced(open_memory):
    mem = open_memory()
    mem.add([MemoryItem("check empty input first", "reflections", writer="critic", trust="agent"),
             MemoryItem("Task: parse dates. Outcome: solved.", "episodes", writer="system", trust="agent")])
    assert mem.count() == {"knowledge": 0, "episodes": 1, "reflections": 1}
    assert [h.collection for h in mem.search("empty input", k=5, collections=("reflections",))] == ["reflections"]
    other = open_memory(ns=mem.namespace + "-other")
    assert other.count() == {"knowledge": 0, "episodes": 0, "reflections": 0}


def test_list_and_forget_by_id_prefix_source_and_run(open_memory):
    mem = open_memory()
    ids = mem.add([MemoryItem(DOCS[0], "knowledge", source="a.md"), MemoryItem(DOCS[1], "knowledge", source="a.md"),
                   MemoryItem(DOCS[2], "knowledge", source="b.md"),
                   MemoryItem("a lesson", "reflections", trust="agent", run_id="run-1")]).added
    assert {h.id for h in mem.list()} == set(ids)
    assert [h.collection for h in mem.list("reflections")] == ["reflections"]
    assert mem.forget(source="a.md") == 2
    assert mem.forget(run_id="run-1") == 1
    assert mem.forget([ids[2][:6]]) == 1  # a unique prefix is enough
    assert mem.count() == {"knowledge": 0, "episodes": 0, "reflections": 0}
    assert mem.forget(["k-00000000"]) == 0


def test_search_edge_cases(open_memory):
    mem = open_memory()
    assert mem.search("anything") == []  # empty memory
    mem.remember(DOCS[0])
    assert mem.search("   ") == [] and mem.search("x", k=0) == []
    assert len(mem.search("timestamps", k=10)) == 1  # k larger than the collection
    assert mem.search("utterly unrelated zebra", min_score=0.5) == []


def test_unknown_collection_is_refused(open_memory):
    with pytest.raises(MemoryStoreError, match="unknown memory collection 'notes'"):
        open_memory().collection("notes")


def test_persistence_across_reopen(open_durable_memory):
    first = open_durable_memory()
    stored = first.remember(DOCS[2], source="c.md")
    import memory._chroma as chroma  # forget the cached client, as a new process would

    chroma._CLIENTS.clear()
    reopened = open_durable_memory()
    assert reopened.get([stored])[0].text == DOCS[2]


def test_a_different_embedder_is_refused_with_a_clear_message(open_memory):
    mem = open_memory()
    mem.remember(DOCS[0])
    other = HashEmbedder(dim=64)
    other.name = "other-model"
    with pytest.raises(MemoryStoreError, match="built with embedder 'hash'.*uses 'other-model'"):
        open_memory(embedder=other).search("x")


def test_an_unreachable_server_is_a_clear_error():
    with pytest.raises(MemoryStoreError, match=r"cannot open the Chroma server at http://127.0.0.1:9 \(is `chroma"):
        VectorMemory("x", embedder=get_embedder("hash"), url="http://127.0.0.1:9")


def test_large_batches_are_split(open_memory):
    mem = open_memory()
    result = mem.add(MemoryItem(f"note {i} on topic {i % 7}", "knowledge") for i in range(1200))
    assert len(result.added) == 1200 and mem.count()["knowledge"] == 1200
