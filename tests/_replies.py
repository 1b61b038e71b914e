"""Builders for scripted replies in the roles' JSON contracts."""

from __future__ import annotations

import json


def decide(speaker: str, satisfied: bool = False) -> str:
    return json.dumps({"is_request_satisfied": satisfied, "is_in_loop": False, "is_progress_being_made": True,
                       "next_speaker": speaker, "instruction_or_question": f"{speaker}, your turn."})


def plan(*steps: str) -> str:
    return json.dumps({"steps": [{"id": f"s{i}", "description": s, "depends_on": []}
                                 for i, s in enumerate(steps, 1)]})


def code(src: str) -> str:
    return f"Here it is.\n```python\n{src}\n```\n"


def approve(lesson: str = "keep it simple") -> str:
    return json.dumps({"verdict": "approve", "feedback": "Looks right.", "lessons": [lesson]})


def revise(feedback: str) -> str:
    return json.dumps({"verdict": "revise", "feedback": feedback, "lessons": []})


FIZZ_LESSON = "fizzbuzz: test the plain-number case, not only multiples"


def happy_fizzbuzz(script, lesson: str = FIZZ_LESSON):
    """A scripted model for one straight fizzbuzz run: plan, code, the critic approves with ``lesson``."""
    return script({
        "orchestrator": [decide("planner"), decide("coder"), decide("critic")],
        "planner": [plan("write fizzbuzz")],
        "coder": [code("def fizzbuzz(n): ...")],
        "critic": [approve(lesson)],
    })
