"""The lean turn (issue 26): a LogSaver's saves run in the step's own thread, reply schemas are built once.

Real LangGraph graphs and SQLite run logs; the runs use the scripted model.
"""

from __future__ import annotations

import threading
from typing import TypedDict

import pytest
from _replies import approve, code, decide, plan
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from studio.bus.checkpoints import LogSaver
from studio.bus.sqlite import RunLog
from studio.llm.schemas import json_schema
from studio.runner import run_team

TASK = "Write add(a, b).\nassert add(2, 3) == 5"


class _State(TypedDict):
    n: int


def _graph(saver):
    graph = StateGraph(_State)
    graph.add_node("one", lambda s: {"n": s["n"] + 1})
    graph.add_node("two", lambda s: {"n": s["n"] * 10})
    graph.add_edge(START, "one")
    graph.add_edge("one", "two")
    graph.add_edge("two", END)
    return graph.compile(checkpointer=saver)


def _spy(saver_class, monkeypatch) -> list[tuple[str, int]]:
    """Record ``(method, thread id)`` of every ``put`` and ``put_writes`` of ``saver_class``."""
    seen: list[tuple[str, int]] = []
    for name in ("put", "put_writes"):
        real = getattr(saver_class, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            seen.append((_name, threading.get_ident()))
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(saver_class, name, spy)
    return seen


def test_a_log_savers_saves_run_in_the_thread_of_the_step(monkeypatch):
    seen = _spy(LogSaver, monkeypatch)
    saver = LogSaver(RunLog(":memory:"))
    config = {"configurable": {"thread_id": "t1"}}
    assert _graph(saver).invoke({"n": 1}, config, durability="sync") == {"n": 20}
    assert {name for name, _ in seen} == {"put", "put_writes"}
    assert {thread for _, thread in seen} == {threading.get_ident()}
    # what was saved is what LangGraph reads back: the last checkpoint, and the history step by step
    assert saver.get_tuple(config).checkpoint["channel_values"] == {"n": 20}
    assert [t.metadata["step"] for t in saver.list(config)] == [2, 1, 0, -1]


def test_another_savers_saves_still_go_to_langgraphs_pool(monkeypatch):
    seen = _spy(InMemorySaver, monkeypatch)
    LogSaver(RunLog(":memory:"))  # installs the inline saves, for LogSavers only
    _graph(InMemorySaver()).invoke({"n": 1}, {"configurable": {"thread_id": "t1"}}, durability="sync")
    assert seen and threading.get_ident() not in {thread for _, thread in seen}


def test_a_failed_save_fails_the_step_as_before(monkeypatch):
    saver = LogSaver(RunLog(":memory:"))
    real, puts = LogSaver.put, []

    def put(self, *args, **kwargs):
        puts.append(1)
        if len(puts) == 2:
            raise OSError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(LogSaver, "put", put)
    with pytest.raises(OSError, match="disk full"):
        _graph(saver).invoke({"n": 1}, {"configurable": {"thread_id": "t1"}}, durability="sync")
    assert len(puts) == 2  # the run stopped at the save that failed


def test_a_reply_schema_is_built_once(script, home, dev_team, monkeypatch):
    """A turn asks for its reply schema several times (journal key, cassette): pydantic builds it once."""
    built: list[str] = []
    real = BaseModel.model_json_schema.__func__  # type: ignore[attr-defined]

    def counting(cls, *args, **kwargs):
        built.append(cls.__name__)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(BaseModel, "model_json_schema", classmethod(counting))
    json_schema.cache_clear()
    model = script({"orchestrator": [decide("planner"), decide("coder"), decide("critic")],
                    "planner": [plan("add them")], "coder": [code("def add(a, b):\n    return a + b")],
                    "critic": [approve()]})  # each run reads the script from its start
    team = dev_team.model_copy(update={"memory": dev_team.memory.model_copy(update={"enabled": False})})
    first = run_team(team, TASK, model=model, home=home)
    assert first.status == "done", first.error
    once = sorted(built)
    assert once and len(once) == len(set(once))  # each reply class once in the first run
    second = run_team(team, TASK, model=model, home=home)
    assert second.status == "done" and sorted(built) == once  # and never again
    assert [m.kind for m in second.messages] == [m.kind for m in first.messages]
