"""Reflection when a run ends: the critic's lessons, a post-mortem on failure, an episode summary.

Lessons are written through each critic's scoped memory (so its write scope
and the poisoning guard apply); the post-mortem and the episode are written by
``system``. Each stored note becomes a ``reflection`` message; a refused one
becomes a non-fatal ``error`` message (``error_type: memory``) saying why.

Taint follows the transcript: a lesson whose review, or any message before it,
had untrusted items in its prompt (ingested documents, tool results, anything
with trust ``external``, as recorded in ``memory_ids``) is stored with trust
``external`` and shown fenced as data in later prompts, until a person approves
it with :func:`approve`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from memory.items import Hit, MemoryStoreError, canonical, collection_of
from memory.scoped import ScopedMemory
from memory.store import VectorMemory
from studio.messages import Code, Error, Final, Message, Reflection, Review, Task, ToolResult

__all__ = ["approve", "episode_text", "is_lesson", "post_mortem_text", "reflect"]

_Shown = list[tuple[str, str]]
"""``(id, text)`` pairs of stored items."""

_REASONS = {
    "approved": "the critic approved the code",
    "satisfied": "the orchestrator judged the request satisfied",
    "max_rounds": "it hit the round limit without approval",
    "no_route": "no role was left to speak",
    "stalled": "the team stalled, even after replanning",
    "rejected": "a person rejected the result",
    "chosen": "the judge chose the best sub-team's result",
    "unsolved": "the code fails the task's tests",
}
_REPEAT_SIMILARITY = 0.9
"""Cosine similarity from which a lesson says again what a lesson shown in the same run said."""
_LEARNED = "\n(learned on the task: "


_WORD = re.compile(r"[^\W\d_]{2,}")


def is_lesson(text: str) -> bool:
    """Whether a critic's lesson says something: at least two words (a small model also writes ``"1.0"``).

    Example:
        >>> [is_lesson(t) for t in ("test the empty list", "1.0", "ok")]
        [True, False, False]
    """
    return len(_WORD.findall(text)) >= 2


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _task(transcript: list[Message]) -> str:
    return next((m.content for m in transcript if isinstance(m, Task)), "")


def _outcome(transcript: list[Message], status: str, error: str | None) -> str:
    final = next((m for m in reversed(transcript) if isinstance(m, Final)), None)
    if status == "failed" or final is None:
        return f"failed: {_short(error or 'the run stopped before a final message', 160)}"
    if final.stop_reason == "unsolved":  # the final's first line: who claimed what, and what the tests said
        return f"not solved: {_short(final.content.split(chr(10), 1)[0], 240)}"
    chosen_ok = final.stop_reason == "chosen" and final.executed and final.exit_code == 0 and not final.failed
    solved = final.stop_reason in ("approved", "satisfied") or chosen_ok
    return ("solved: " if solved else "not solved: ") + _REASONS[final.stop_reason]


def post_mortem_text(transcript: list[Message], status: str, error: str | None = None) -> str | None:
    """A short post-mortem when the run failed or ended without a solution; ``None`` when it succeeded."""
    outcome = _outcome(transcript, status, error)
    if outcome.startswith("solved"):
        return None
    review = next((m for m in reversed(transcript) if isinstance(m, Review) and m.verdict == "revise"), None)
    codes = sum(1 for m in transcript if isinstance(m, Code))
    parts = [f"Post-mortem for task: {_short(_task(transcript))}", f"Outcome: {outcome}.",
             f"Code versions written: {codes}."]
    if review is not None and review.feedback:
        parts.append(f"Last open critic feedback: {_short(review.feedback)}")
    return "\n".join(parts)


def episode_text(transcript: list[Message], status: str, error: str | None = None) -> str:
    """What happened in the run, in three lines: task, outcome, how many reviews and code versions."""
    reviews = [m for m in transcript if isinstance(m, Review)]
    versions = [m for m in transcript if isinstance(m, Code) and m.code]
    # Only counts and the user's task: model-written text here would reach later prompts unchecked.
    notes = f"{len(reviews)} review(s); {len(versions)} code version(s)" + (
        f", the last {len(versions[-1].code.splitlines())} lines long" if versions else "")
    return "\n".join([f"Task: {_short(_task(transcript))}", f"Outcome: {_outcome(transcript, status, error)}",
                      f"Notes: {notes}"])


def _shown_items(memory: VectorMemory, transcript: list[Message],
                 scopes: Mapping[str, ScopedMemory]) -> dict[str, Hit]:
    """The stored items the run's prompts showed, by id.

    As the run's searches returned them (what the roles saw); the store is read only for the ids no view of this
    process returned (a resumed run's first part), once for both uses below.
    """
    ids = list(dict.fromkeys(i for m in transcript for i in m.memory_ids))
    returned = {i: h for scoped in scopes.values() for i, h in scoped.shown().items()}
    found = {i: returned[i] for i in ids if i in returned}
    missing = [i for i in ids if i not in found]
    if missing:
        found.update((h.id, h) for h in memory.get(missing))
    return found


def _untrusted_shown(found: dict[str, Hit], transcript: list[Message]) -> dict[int, list[tuple[str, str]]]:
    """For each message index: ``(id, text)`` of the untrusted items in the prompts up to and including it.

    ``found``: :func:`_shown_items`. An id neither returned in this process nor stored any more counts as
    untrusted: nobody can say what it was.
    What a Python function or an MCP server returned counts as an item ``tool:<message id>`` with the text
    the role was shown.
    """
    ids = list(dict.fromkeys(i for m in transcript for i in m.memory_ids))
    bad = {i: found[i].text if i in found else "" for i in ids if i not in found or found[i].untrusted}
    out, acc = {}, {}
    for index, message in enumerate(transcript):
        acc.update({i: bad[i] for i in message.memory_ids if i in bad})
        if isinstance(message, ToolResult) and message.untrusted:
            acc[f"tool:{message.id}"] = message.content
        out[index] = list(acc.items())
    return out


def _recalled_lessons(found: dict[str, Hit], transcript: list[Message]) -> _Shown:
    """``(id, lesson)`` of the stored lessons the run's prompts showed (the task they quote left off)."""
    ids = list(dict.fromkeys(i for m in transcript if not isinstance(m, Reflection) for i in m.memory_ids
                             if collection_of(i) == "reflections"))
    return [(i, found[i].text.split(_LEARNED, 1)[0]) for i in ids if i in found]


def _repeats(memory: VectorMemory, lesson: str, recalled: _Shown) -> bool:
    """Whether ``lesson`` says again what a lesson shown in this run said: same canonical text, or nearly."""
    if not recalled:
        return False
    if any(canonical(lesson) == canonical(text) for _, text in recalled):
        return True
    vectors = memory.embed([canonical(lesson), *(canonical(text) for _, text in recalled)])
    return bool((vectors[1:] @ vectors[0]).max() >= _REPEAT_SIMILARITY)  # unit vectors: cosine similarity


def approve(memory: VectorMemory, ids: list[str], *, by: str = "user") -> list[str]:
    """A person vouches for tainted lessons: they are shown as trusted lessons from now on; returns their ids.

    Raises:
        MemoryStoreError: an id is not a stored lesson that was tainted.
    """
    hits = {h.id: h for h in memory.get(ids)}
    wrong = [i for i in ids if i not in hits or hits[i].collection != "reflections" or not hits[i].tainted_by]
    if wrong:
        raise MemoryStoreError(f"cannot approve {', '.join(wrong)}: only stored lessons that were written after "
                               "seeing untrusted data (tainted_by set) can be approved; `huddle memory list "
                               "--collection reflections` shows them")
    metadatas = [{**hits[i].metadata, "trust": "user", "approved_by": by} for i in ids]
    memory.collection("reflections").update(ids=list(ids), metadatas=metadatas)
    return list(ids)


def reflect(transcript: list[Message], *, run_id: str, memory: VectorMemory,
            scopes: Mapping[str, ScopedMemory], status: str = "done", error: str | None = None) -> list[Message]:
    """Write what the run taught to memory; return the ``reflection`` and ``error`` messages to publish.

    Args:
        transcript: the run's messages so far (a final message, if any, included).
        run_id: the run.
        memory: the team's memory (the system writes post-mortems and episodes there).
        scopes: each role's scoped memory (lessons are written through the critic's).
        status: ``done``, ``unsolved`` (the final's code fails the task's tests) or ``failed``.
        error: the failure, if any.
    """
    out: list[Message] = []
    task = _short(_task(transcript), 300)
    found = _shown_items(memory, transcript, scopes)
    shown = _untrusted_shown(found, transcript)
    outcome = "solved" if _outcome(transcript, status, error).startswith("solved") else "failed"
    recalled = _recalled_lessons(found, transcript)
    for index, review in enumerate(transcript):
        if not isinstance(review, Review):
            continue
        scoped = scopes.get(review.sender)
        for lesson in dict.fromkeys(x.strip() for x in review.lessons if is_lesson(x)):
            if _repeats(memory, lesson, recalled):
                continue  # the team was shown it this run: storing it again adds nothing
            text = f"{lesson}{_LEARNED}{_short(task)})"
            try:
                if scoped is None:
                    raise MemoryStoreError(f"role {review.sender!r} has no memory access")
                stored = scoped.write(text, "reflections", extra={"task": task, "note": "lesson", "outcome": outcome},
                                      authored=lesson, shown=shown[index])
            except MemoryStoreError as exc:
                out.append(Error(run_id=run_id, sender=review.sender, error_type="memory", parent_id=review.id,
                                 content=f"lesson not stored: {exc}"))
                continue
            out.append(Reflection(run_id=run_id, sender=review.sender, content=text, collection="reflections",
                                  note="lesson", parent_id=review.id, memory_ids=[stored]))
    run_shown = shown.get(len(transcript) - 1, [])  # everything untrusted the run's prompts held
    seen = list(dict([*(pair for s in scopes.values() for pair in s.seen()), *run_shown]).items())
    notes = [("post_mortem", "reflections", post_mortem_text(transcript, status, error), tuple(i for i, _ in seen)),
             ("episode", "episodes", episode_text(transcript, status, error), ())]  # counts and the task only
    for note, collection, body, tainted_by in notes:
        if not body:
            continue
        authored = "\n".join(body.splitlines()[1:])  # the first line quotes the user's task
        try:
            # an episode is found by its task: a later run's roles search with theirs (and this run's vector of
            # the task is at hand, from its own searches)
            stored = memory.remember(body, collection, seen=seen, source=f"run:{run_id}", writer="system",
                                     trust="agent", run_id=run_id, extra={"task": task, "note": note},
                                     authored=authored, tainted_by=tainted_by,
                                     key=_task(transcript) if note == "episode" else "")
        except MemoryStoreError as exc:  # a refused post-mortem (PoisonError) included
            out.append(Error(run_id=run_id, sender="system", error_type="memory", content=f"{note} not stored: {exc}"))
            continue
        out.append(Reflection(run_id=run_id, sender="system", content=body, collection=collection, note=note,
                              memory_ids=[stored]))
    return out
