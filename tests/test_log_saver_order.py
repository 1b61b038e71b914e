"""Parallel tasks' messages reach subscribers in the order the run log holds them."""

from __future__ import annotations

import threading

from studio.bus.checkpoints import LogSaver
from studio.bus.sqlite import RunLog
from studio.messages import Message, Task


def test_parallel_tasks_deliver_their_messages_in_the_logs_order(tmp_path):
    log = RunLog(tmp_path / "runs.db")
    saver = LogSaver(log)
    seen: list[str] = []
    first_delivering, release = threading.Event(), threading.Event()

    def deliver(messages: list[Message]) -> None:
        if messages[0].content == "a":  # task a's subscriber is slow: task b commits meanwhile, if it can
            first_delivering.set()
            release.wait(1.0)
        seen.extend(m.content for m in messages)

    config = {"configurable": {"thread_id": "r1", "checkpoint_ns": "", "checkpoint_id": "c1"}}
    for task in ("a", "b"):
        saver.stage("r1", task, [Task(run_id="r1", sender=task, content=task)], deliver)
    a = threading.Thread(target=saver.put_writes, args=(config, [("x", 1)], "a"))
    a.start()
    assert first_delivering.wait(5.0)
    b = threading.Thread(target=saver.put_writes, args=(config, [("x", 2)], "b"))
    b.start()
    b.join(0.3)  # b waits for a's delivery to finish (it would otherwise be delivered first)
    release.set()
    a.join(5.0)
    b.join(5.0)
    assert [m.content for m in log.messages("r1")] == ["a", "b"]
    assert seen == ["a", "b"]
    log.close()
