"""The step best_of_n and cross_team share: gather the parallel results, have one role compare them, publish.

The flows differ only in what they gather (best_of_n: each candidate branch's last code and its run;
cross_team: each sub-team's final code, with whether its reviewer approved) and in who compares
(:func:`roles.ranker.rank_candidates` for the critic, :func:`roles.ranker.judge_results` for the judge).
The result goes on the main line, where the chosen code continues.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

from pipelines._base import RunWiring, node_update
from roles import RoleContext, TeamState
from roles.base import main_line
from roles.ranker import Candidate
from studio.messages import Message
from studio.spec import TeamSpec

__all__ = ["Collect", "Compare", "rank_node"]

Collect = Callable[[TeamState, TeamSpec], list[Candidate]]
"""What the parallel branches produced, one :class:`Candidate` each."""
Compare = Callable[[TeamState, RoleContext, list[Candidate]], list[Message]]
"""A role compares the candidates and says which continues (its messages go on the main line)."""


def rank_node(state: TeamState, runtime: Runtime[RunWiring], *, spec: TeamSpec, node: str, ranker: str,
              collect: Collect, compare: Compare) -> dict[str, Any]:
    """Candidates → rank → publish: ``ranker`` compares what ``collect`` gathers, and its verdict is published."""
    candidates = collect(state, spec)
    messages = compare({**state, "transcript": main_line(state["transcript"])}, runtime.context.contexts[ranker],
                       candidates)
    runtime.context.publish(messages)
    return node_update(spec, node, messages, state)
