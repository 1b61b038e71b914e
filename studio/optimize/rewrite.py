r"""A model rewrites one role's instructions from the failures the search saw (the ADAS / AFlow move).

The search asks for a rewrite with the role, its instructions now and up to three failed search
tasks with why they failed; the model's reply, cleaned to a few plain sentences, becomes the
role's new ``instructions`` in one proposal, which is then graded like any other. Each rewrite is
kept in the journal, so a resumed search reuses it instead of asking again.

Example:
    >>> clean("```\nWrite small functions. Check empty lists first.\n```")
    'Write small functions. Check empty lists first.'
    >>> clean("ok") is None
    True
    >>> asked = "The team failed these tasks:\n- Task: Write a function that sums a list of numbers"
    >>> clean("The team failed these tasks: Task: Write a function that sums a list", asked) is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from studio.llm import CallSettings, Gateway, ModelCallError
from studio.llm.scripted import ScriptExhausted
from studio.optimize.journal import Journal
from studio.spec import TeamSpec

__all__ = ["MAX_CHARS", "clean", "prompt", "rewriter"]

MAX_CHARS = 400
"""The longest instructions a rewrite may give (a small model's prompt is precious)."""


def prompt(role: str, kind: str, instructions: str, failures: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """The chat messages asking for new instructions."""
    cases = "\n".join(f"- Task: {' '.join(task.split())[:300]}\n  What went wrong: {why[:200] or 'wrong answer'}"
                      for task, why in failures)
    return [
        {"role": "system", "content": "You improve the instructions of one member of a team of AI agents that "
                                      "write Python functions. Reply with the new instructions only."},
        {"role": "user", "content": f"Role: {role} (a {kind}).\nIts instructions now: "
                                    f"{instructions or '(none)'}\nThe team failed these tasks:\n{cases}\n\n"
                                    "Write better instructions for this role, at most three short sentences."},
    ]


def _grams(text: str, n: int = 4) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def clean(text: str, asked: str = "") -> str | None:
    """The reply as instructions: fences, quotes and labels dropped, one paragraph; ``None`` when unusable.

    A reply that mostly repeats what it was ``asked`` (a small model echoing the failures back) is unusable:
    half or more of its four-word runs appear in the prompt.
    """
    text = re.sub(r"```[a-zA-Z]*", " ", text)
    text = re.sub(r"^\s*(new )?instructions\s*:\s*", "", text, flags=re.IGNORECASE)
    text = " ".join(text.replace('"', " ").split())[:MAX_CHARS].strip()
    words = re.findall(r"[A-Za-z]{2,}", text)
    if len(words) < 3 or not text.isprintable():
        return None
    grams = _grams(text)
    if grams and len(grams & _grams(asked)) * 2 >= len(grams):
        return None
    return text


def rewriter(spec: TeamSpec, model: str | None, gateway: Gateway,
             journal: Journal) -> Callable[[str, str, str, str, Sequence[tuple[str, str]]], str | None]:
    """``rewrite(best, role, kind, instructions, failures)``, journalled by what it was asked."""
    def rewrite(best: str, role: str, kind: str, instructions: str,
                failures: Sequence[tuple[str, str]]) -> str | None:
        key = f"{best}:{role}:{len(failures)}"
        if key in journal.rewrites:
            return journal.rewrites[key] or None
        settings = CallSettings(temperature=0.7, max_tokens=120, timeout_s=spec.defaults.timeout_s,
                                retries=spec.defaults.retries)
        try:
            asked = prompt(role, kind, instructions, failures)
            reply = gateway.complete(spec.model_for(role, model), asked, role="optimizer", settings=settings)
            text = clean(reply.text, asked="\n".join(m["content"] for m in asked)) or ""
        except (ModelCallError, ScriptExhausted):  # no rewrite this time: the other moves go on
            text = ""
        journal.add_rewrite(key, text)
        return text or None
    return rewrite
