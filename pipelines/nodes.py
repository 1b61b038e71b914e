"""The main-line nodes every flow shares, as plain functions of the graph state and the run's runtime.

A builder binds what a node needs from the team with :func:`functools.partial` (``spec``, a role's
``name``, an approval ``point``); what belongs to one run (the role contexts, the bus) comes in the
runtime's context, a :class:`~pipelines._base.RunWiring`. So a node can be called alone in a test:

Example:
    >>> from functools import partial
    >>> from studio.spec import TeamSpec, RoleSpec
    >>> team = TeamSpec(name="duo", roles=[RoleSpec(name="coder", kind="coder")])
    >>> partial(role_node, spec=team, name="coder").keywords["name"]
    'coder'
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from pipelines._base import EXECUTE_NODE, FINAL_NODE, RunWiring, coder_names, final_message, node_update
from pipelines.approval import gate_messages
from roles import ROLE_FUNCTIONS, RoleContext, TeamState
from roles.base import last, main_line
from roles.executor import execute
from studio.messages import Code, Message
from studio.spec import TeamSpec

__all__ = ["approval_node", "coder_context", "execute_node", "final_node", "gate_node", "role_node"]


def gate_node(point: str) -> str:
    """The graph node of an approval point."""
    return f"_approve_{point}"


def role_node(state: TeamState, runtime: Runtime[RunWiring], *, spec: TeamSpec, name: str) -> dict[str, Any]:
    """Role ``name`` takes its turn; it sees the main line only (parallel branches keep their work to themselves)."""
    role_fn = ROLE_FUNCTIONS[spec.role(name).behaviour]
    messages = role_fn({**state, "transcript": main_line(state["transcript"])}, runtime.context.contexts[name])
    runtime.context.publish(messages)
    return node_update(spec, name, messages, state)


def coder_context(spec: TeamSpec, transcript: list[Message], wiring: RunWiring) -> RoleContext:
    """Whose sandbox runs the latest code: its writer's, or for a person's edit, the edited code's writer's."""
    code = last(transcript, Code)
    sender = code.sender  # type: ignore[union-attr]  # the execute node runs only after code
    if sender not in wiring.contexts or wiring.contexts[sender].sandbox is None:
        original = next((m for m in transcript if m.id == code.parent_id), None)  # type: ignore[union-attr]
        sender = original.sender if original is not None else ""
    if sender not in wiring.contexts or wiring.contexts[sender].sandbox is None:
        sender = coder_names(spec)[0]
    return wiring.contexts[sender]


def execute_node(state: TeamState, runtime: Runtime[RunWiring], *, spec: TeamSpec) -> dict[str, Any]:
    """Run the main line's latest code in its writer's sandbox."""
    transcript = main_line(state["transcript"])
    messages = execute({**state, "transcript": transcript}, coder_context(spec, transcript, runtime.context))
    runtime.context.publish(messages)
    return node_update(spec, EXECUTE_NODE, messages, state)


def approval_node(state: TeamState, runtime: Runtime[RunWiring], *, spec: TeamSpec, point: str) -> dict[str, Any]:
    """Pause for a person at ``point`` (a LangGraph interrupt), then record what they said."""
    messages = gate_messages(point, {**state, "transcript": main_line(state["transcript"])}, runtime.context.run_id)
    runtime.context.publish(messages)
    return node_update(spec, gate_node(point), messages, state)


def final_node(state: TeamState, runtime: Runtime[RunWiring], *, spec: TeamSpec) -> dict[str, Any]:
    """The run's result; the run reflects into memory first, when the team has reflection on."""
    wiring = runtime.context
    final = final_message(spec, wiring.run_id, state)
    status = "unsolved" if final.stop_reason == "unsolved" else "done"
    notes = wiring.reflect([*state["transcript"], final], status, None) if wiring.reflect else []
    wiring.publish([*notes, final])
    return node_update(spec, FINAL_NODE, [*notes, final], state)
