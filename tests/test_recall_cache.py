"""Retrieval once per step and query: a role's view of memory searches the store once for the same query.

Real chromadb (in memory) and the hashed bag-of-words embedder; a spy on the store's ``search`` counts what
reaches it.
"""

from __future__ import annotations

import threading
import time

import pytest
import yaml
from _replies import approve, code, decide, plan, revise
from conftest import ROOT, hashed

from memory import ScopedMemory, VectorMemory, get_embedder
from memory.embedder import HashEmbedder
from studio.messages import Code
from studio.runner import run_team
from studio.spec import parse_spec

FIZZ = "Write fizzbuzz(n).\nassert fizzbuzz(15) == 'FizzBuzz'\nassert fizzbuzz(7) == '7'"


@pytest.fixture
def mem(namespace) -> VectorMemory:
    memory = VectorMemory(namespace, embedder=get_embedder("hash"), ephemeral=True)
    memory.remember("Check the empty list before indexing it.", "reflections", writer="critic", trust="agent")
    memory.remember("Dates are stored in UTC.", "knowledge", source="notes.md", trust="user")
    return memory


@pytest.fixture
def searches(mem, monkeypatch) -> list[tuple]:
    """The searches that reached the store, as ``(query, k, collections)``."""
    seen: list[tuple] = []
    real = mem.search

    def spy(query, k=5, **options):
        seen.append((query, k, tuple(options.get("collections") or ())))
        time.sleep(0.05)  # long enough for concurrent callers to overlap
        return real(query, k, **options)

    monkeypatch.setattr(mem, "search", spy)
    return seen


def test_the_same_query_searches_the_store_once(mem, searches):
    coder = ScopedMemory(mem, "coder", read=("reflections", "knowledge"), write=(), run_id="r1")
    first = coder.search("empty list index", 3)
    again = coder.search("empty list index", 3)
    assert first == again and first[0].text.startswith("Check the empty list")
    assert len(searches) == 1
    # Anything else that shapes the result is part of the query: each is searched once.
    coder.search("empty list index", 2)
    coder.search("empty list index", 3, collections=("knowledge",))
    coder.search("empty list index", 3, min_score=0.5)
    coder.search("dates in UTC", 3)
    coder.search("dates in UTC", 3)
    assert len(searches) == 5


def test_a_write_through_any_view_makes_the_next_search_ask_the_store(mem, searches):
    coder = ScopedMemory(mem, "coder", read=("reflections",), write=(), run_id="r1")
    critic = ScopedMemory(mem, "critic", read=("reflections",), write=("reflections",), run_id="r1")
    before = coder.search("empty list index", 5)
    stored = critic.write("Index an empty list only after checking its length.", "reflections")
    after = coder.search("empty list index", 5)
    asked = [s for s in searches if s[0] == "empty list index"]  # the poisoning guard searches too, for the write
    assert len(asked) == 2 and stored in [h.id for h in after] and stored not in [h.id for h in before]
    coder.search("empty list index", 5)
    assert len([s for s in searches if s[0] == "empty list index"]) == 2  # remembered again until the next write


def test_a_write_straight_to_the_memory_makes_the_next_search_ask_the_store(mem, searches):
    """Ingestion, the run's episode or a person's ``forget`` in the studio write to the memory, not a view."""
    coder = ScopedMemory(mem, "coder", read=("reflections",), write=(), run_id="r1")
    [hit] = coder.search("empty list index", 5)
    assert mem.forget([hit.id]) == 1
    assert coder.search("empty list index", 5) == [] and len(searches) == 2
    mem.remember("Check the empty list before indexing it.", "reflections", writer="critic", trust="agent")
    assert len(coder.search("empty list index", 5)) == 1
    assert len([s for s in searches if s[0] == "empty list index"]) == 3  # the guard's own searches aside


def test_sixteen_candidates_asking_at_once_search_once(mem, searches):
    coder = ScopedMemory(mem, "coder", read=("reflections",), write=(), run_id="r1")
    start, results = threading.Barrier(16), []

    def candidate():
        start.wait()
        results.append(coder.search("empty list index", 3))

    threads = [threading.Thread(target=candidate) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(searches) == 1 and len(results) == 16 and all(r == results[0] for r in results)


def test_a_failed_search_is_not_remembered(mem, monkeypatch):
    coder = ScopedMemory(mem, "coder", read=("reflections",), write=(), run_id="r1")
    real, calls = mem.search, []

    def flaky(query, k=5, **options):
        calls.append(query)
        if len(calls) == 1:
            raise ConnectionError("store unreachable")
        return real(query, k, **options)

    monkeypatch.setattr(mem, "search", flaky)
    with pytest.raises(ConnectionError):
        coder.search("empty list index")
    assert coder.search("empty list index") and len(calls) == 2


def test_the_candidates_of_a_best_of_n_step_retrieve_once(mem, searches, script, home):
    """Three candidate branches of one run ask memory the same query: the store sees it once."""
    data = yaml.safe_load((ROOT / "examples" / "teams" / "best_of_n_team.yaml").read_text())
    data["roles"][0]["memory"] = {"read": ["reflections"]}  # the critic reads knowledge too: its searches differ
    spec = hashed(parse_spec(data))
    lesson = mem.remember("Write fizzbuzz(n) to test 15 before 3 and 5.", "reflections", writer="critic",
                          trust="agent")
    right = "```python\ndef fizzbuzz(n):\n    return 'Fizz' * (n % 3 == 0) + 'Buzz' * (n % 5 == 0) or str(n)\n```"
    model = script({**{f"coder.c{i}": [right] for i in (1, 2, 3)},
                    "critic": ['{"best": "c1", "verdict": "approve", "feedback": "It passes.", "lessons": []}']})
    result = run_team(spec, FIZZ, model=model, memory=mem)
    assert result.status == "done", result.error
    coder_query = [s for s in searches if s[0].startswith(FIZZ) and s[2] == ("reflections",)]
    assert len(coder_query) == 1, searches
    candidates = [m for m in result.messages if isinstance(m, Code) and m.branch]
    assert len(candidates) == 3 and all(m.memory_ids == [lesson] for m in candidates)


class _Counting(HashEmbedder):
    """The hash embedder, keeping every text it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def encode(self, texts):
        self.texts += list(texts)
        return super().encode(texts)


def test_a_repeated_query_is_embedded_once_and_finds_what_a_fresh_memory_finds(namespace):
    counting = _Counting()
    mem = VectorMemory(namespace, embedder=counting, ephemeral=True)
    mem.remember("Check the empty list before indexing it.", "reflections", writer="critic", trust="agent")
    mem.remember("An empty list has no first item.", "knowledge", source="notes.md", trust="user")
    counting.texts.clear()
    asked = [("empty list index", 3, {}), ("empty list index", 2, {"collections": ("reflections",)}),
             ("empty list index", 3, {"min_score": 0.1}), ("first item", 3, {}), ("empty list index", 3, {})]
    found = [mem.search(query, k, **options) for query, k, options in asked]
    assert counting.texts == ["empty list index", "first item"]  # each distinct query once
    assert found[0] and found[0] == found[4]
    fresh = VectorMemory(namespace, embedder=HashEmbedder(), ephemeral=True)  # the same store, nothing remembered
    assert found == [fresh.search(query, k, **options) for query, k, options in asked]


def test_a_run_embeds_each_distinct_text_once(namespace, script, home, dev_team):
    """Every role of a run searches memory for the task (some more than once): each text is embedded once."""
    counting = _Counting()
    mem = VectorMemory(namespace, embedder=counting, ephemeral=True)
    mem.remember("Write fizzbuzz(n) to test 15 before 3 and 5.", "reflections", writer="critic", trust="agent")
    counting.texts.clear()
    store_searches = searches_of(mem)
    right = "def fizzbuzz(n):\n    return 'Fizz' * (n % 3 == 0) + 'Buzz' * (n % 5 == 0) or str(n)"
    model = script({"orchestrator": [decide("planner"), decide("coder"), decide("critic")],
                    "planner": [plan("write fizzbuzz")], "coder": [code(right)], "critic": [approve()]})
    result = run_team(dev_team, FIZZ, model=model, home=home, memory=mem)
    assert result.status == "done", result.error
    assert len(counting.texts) == len(set(counting.texts)), counting.texts
    assert FIZZ in counting.texts and len(store_searches) > len([t for t in counting.texts if t == FIZZ])
    recalled = {tuple(m.memory_ids) for m in result.messages if m.memory_ids}
    assert recalled  # the lesson reached the prompts


def test_the_episode_is_stored_under_its_tasks_vector_and_found_by_the_task(namespace, script, home, dev_team):
    """Reflection embeds no episode text: the run's searches embedded the task already, and that is its key."""
    counting = _Counting()
    mem = VectorMemory(namespace, embedder=counting, ephemeral=True)
    mem.remember("Write fizzbuzz(n) to test 15 before 3 and 5.", "reflections", writer="critic", trust="agent")
    mem.remember("Task: sort a list\nOutcome: solved: the critic approved the code", "episodes",
                 writer="system", trust="agent")  # an episode stored from its text, as before
    counting.texts.clear()
    right = "def fizzbuzz(n):\n    return 'Fizz' * (n % 3 == 0) + 'Buzz' * (n % 5 == 0) or str(n)"
    model = script({"orchestrator": [decide("planner"), decide("coder"), decide("critic")],
                    "planner": [plan("write fizzbuzz")], "coder": [code(right)], "critic": [approve()]})
    result = run_team(dev_team, FIZZ, model=model, home=home, memory=mem)
    assert result.status == "done", result.error
    episode = next(m for m in result.messages if m.kind == "reflection" and m.note == "episode")
    assert episode.content.startswith("Task: Write fizzbuzz(n).") and "Outcome: solved" in episode.content
    assert not any(t.startswith("Task:") for t in counting.texts), counting.texts  # no episode text embedded
    hits = VectorMemory(namespace, embedder=HashEmbedder(), ephemeral=True).search(FIZZ, 2, collections=("episodes",))
    assert hits[0].id == episode.memory_ids[0] and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.text for h in hits][1].startswith("Task: sort a list")


def test_a_keyed_item_stored_twice_is_a_duplicate_the_second_time(namespace):
    from memory.items import MemoryItem

    counting = _Counting()
    mem = VectorMemory(namespace, embedder=counting, ephemeral=True)
    item = MemoryItem("Task: add two numbers\nOutcome: solved", "episodes", writer="system", trust="agent",
                      key="add two numbers")
    first, second = mem.add([item]), mem.add([item])
    assert (first.added, first.duplicates) == ([item.id], [])
    assert (second.added, second.duplicates) == ([], [item.id])
    assert counting.texts == ["add two numbers"] and mem.count()["episodes"] == 1  # the key, embedded once


def searches_of(mem: VectorMemory) -> list[str]:
    """The queries that reach ``mem.search`` from now on."""
    seen: list[str] = []
    real = mem.search

    def spy(query, k=5, **options):
        seen.append(query)
        return real(query, k, **options)

    mem.search = spy  # type: ignore[method-assign]
    return seen


def test_the_views_of_a_run_query_each_collection_once_per_query(mem, monkeypatch):
    """The orchestrator reads episodes, the planner three collections, the critic two: each is queried once."""
    import memory.store

    queried: list[int] = []
    real = memory.store.retry_transient

    def counting(call, where):
        queried.append(1)
        return real(call, where)

    monkeypatch.setattr(memory.store, "retry_transient", counting)
    run: dict = {}
    views = [ScopedMemory(mem, role, read=read, write=(), run_id="r1", shared=run)
             for role, read in (("orchestrator", ("episodes",)), ("planner", ("knowledge", "reflections", "episodes")),
                                ("critic", ("knowledge", "reflections")))]
    found = [view.search("empty list index", 3) for view in views]
    assert len(queried) == 3  # episodes, knowledge, reflections: once each
    alone = [ScopedMemory(mem, v.role, read=v.read, write=(), run_id="r2").search("empty list index", 3)
             for v in views]
    assert found == alone and found[2][0].text.startswith("Check the empty list")
    assert len(queried) == 3 + 6  # views of their own (another run) query every collection they read
    mem.remember("Index an empty list only after checking its length.", "reflections", writer="critic",
                 trust="agent")
    queried.clear()
    again = ScopedMemory(mem, "coder", read=("reflections",), write=(), run_id="r1", shared=run)
    assert len(again.search("empty list index", 3)) == 2 and len(queried) == 1  # a write: asked again


def test_reflection_reads_nothing_from_the_store_that_the_runs_searches_returned(namespace, script, home,
                                                                                   dev_team):
    """The items a run was shown are known from its own searches, as the roles saw them: reflection (taint,
    repeated lessons) asks the store only for ids no search of this process returned."""
    mem = VectorMemory(namespace, embedder=HashEmbedder(), ephemeral=True)
    shown = mem.remember("Write fizzbuzz(n) to test 15 before 3 and 5.", "reflections", writer="critic",
                         trust="agent")
    asked: list[str] = []
    real = mem.get

    def spy(ids):
        asked.extend(ids)
        return real(ids)

    mem.get = spy  # type: ignore[method-assign]
    right = "def fizzbuzz(n):\n    return 'Fizz' * (n % 3 == 0) + 'Buzz' * (n % 5 == 0) or str(n)"
    model = script({"orchestrator": [decide("planner"), decide("coder"), decide("critic")],
                    "planner": [plan("write fizzbuzz")], "coder": [code(right)],
                    "critic": [approve("Write fizzbuzz(n) to test 15 before 3 and 5.")]})
    result = run_team(dev_team, FIZZ, model=model, home=home, memory=mem)
    assert result.status == "done", result.error
    assert any(shown in m.memory_ids for m in result.messages if m.kind != "reflection")  # it was shown
    assert shown not in asked, asked
    notes = [m.note for m in result.messages if m.kind == "reflection"]
    assert "lesson" not in notes and "episode" in notes  # the lesson repeats the one shown: not stored again


class _Slow(_Counting):
    """Takes its time, and fails for texts that say so."""

    def encode(self, texts):
        time.sleep(0.2)
        if any("fail" in t for t in texts):
            raise RuntimeError("the embedder failed")
        return super().encode(texts)


def test_a_text_being_embedded_is_waited_for_not_embedded_again(namespace):
    """The runner asks for the task's vector as the run starts; a role searching meanwhile waits for it."""
    slow = _Slow()
    mem = VectorMemory(namespace, embedder=slow, ephemeral=True)
    mem.remember("Check the empty list before indexing it.", "reflections", writer="critic", trust="agent")
    slow.texts.clear()
    mem.prefetch("empty list index")
    started = time.perf_counter()
    hits = mem.search("empty list index", 1)  # while the prefetch is embedding it
    assert hits[0].text.startswith("Check the empty list") and time.perf_counter() - started < 0.35
    assert slow.texts == ["empty list index"]
    # a failure reaches whoever waits for it, and nothing is kept: the next search embeds again
    errors: list[BaseException] = []

    def search() -> None:
        try:
            mem.search("fail this", 1)
        except BaseException as exc:  # noqa: BLE001 - what the search raised, checked below
            errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 3 and all("the embedder failed" in str(e) for e in errors)
    with pytest.raises(RuntimeError):
        mem.search("fail this", 1)


class _Threads(_Counting):
    """Notes the thread that embeds each text."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: dict[str, str] = {}

    def encode(self, texts):
        self.threads.update(dict.fromkeys(texts, threading.current_thread().name))
        return super().encode(texts)


def test_a_run_with_memory_embeds_its_task_while_it_starts(namespace, script, home, dev_team):
    """Off the run's own thread, once; not at all when its roles search nothing."""
    counting = _Threads()
    mem = VectorMemory(namespace, embedder=counting, ephemeral=True)
    mem.remember("Write fizzbuzz(n) to test 15 before 3 and 5.", "reflections", writer="critic", trust="agent")
    counting.texts.clear()
    right = "def fizzbuzz(n):\n    return 'Fizz' * (n % 3 == 0) + 'Buzz' * (n % 5 == 0) or str(n)"
    model = script({"orchestrator": [decide("planner"), decide("coder"), decide("critic")],
                    "planner": [plan("write fizzbuzz")], "coder": [code(right)], "critic": [approve()]})
    run_team(dev_team, FIZZ, model=model, home=home, memory=mem)
    assert counting.texts.count(FIZZ) == 1 and counting.threads[FIZZ].startswith("huddle-memory")
    off = dev_team.model_copy(update={"memory": dev_team.memory.model_copy(update={"top_k": 0})})
    counting.texts.clear()
    run_team(off, FIZZ + " again", model=script({
        "orchestrator": [decide("planner"), decide("coder"), decide("critic")],
        "planner": [plan("write fizzbuzz")], "coder": [code(right)], "critic": [approve()]}), home=home, memory=mem)
    assert FIZZ + " again" not in counting.texts, counting.texts  # nothing searches: nothing embedded for it


def test_the_coder_searches_for_the_task_then_for_what_it_must_fix(namespace, script, home, dev_team):
    """Its first turn asks what the planner asked (the task: found, not embedded again); a revision adds the
    critic's feedback, never the plan (a restatement of the task that pushed the feedback out of the window)."""
    counting = _Counting()
    mem = VectorMemory(namespace, embedder=counting, ephemeral=True)
    mem.remember("Write fizzbuzz(n) to test 15 before 3 and 5.", "reflections", writer="critic", trust="agent")
    counting.texts.clear()
    right = "def fizzbuzz(n):\n    return 'Fizz' * (n % 3 == 0) + 'Buzz' * (n % 5 == 0) or str(n)"
    model = script({"orchestrator": [decide("planner"), decide("coder"), decide("critic"), decide("coder"),
                                     decide("critic")],
                    "planner": [plan("write fizzbuzz with a long plan that restates the task")],
                    "coder": [code(right), code(right + "  # checked")],
                    "critic": [revise("Multiples of 15 must give FizzBuzz."), approve()]})
    result = run_team(dev_team, FIZZ, model=model, home=home, memory=mem)
    assert result.status == "done", result.error
    assert not any("long plan" in t for t in counting.texts), counting.texts
    assert counting.texts.count(FIZZ) == 1 and FIZZ + "\nMultiples of 15 must give FizzBuzz." in counting.texts
