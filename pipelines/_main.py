"""The main line every flow shares: role nodes, the execute node, approval gates and the final node, and the
routes between them (code goes to the sandbox, a failed run back to its coder, an approval to the end).

A flow builds its own start (a ledger, a plan of parallel steps, candidates, sub-teams) and then hands over
to these nodes, so execution, review and approval behave the same in every flow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.graph import StateGraph
from langgraph.runtime import Runtime

from pipelines._base import EXECUTE_NODE, FINAL_NODE, RunWiring, final_message, node_update
from pipelines.approval import gate_messages
from roles import ROLE_FUNCTIONS, TeamState
from roles.base import last, main_line
from roles.executor import attempts_in_step, execute
from studio.messages import Approval, Code, Execution, Ledger, Plan, Review
from studio.spec import TeamSpec

__all__ = ["MainLine", "gate_node"]

Router = Callable[[TeamState], Any]


def gate_node(point: str) -> str:
    """The graph node of an approval point."""
    return f"_approve_{point}"


class MainLine:
    """Adds the shared nodes to ``graph`` and routes between them.

    Args:
        spec: the team.
        graph: the graph being built.
        plan_node: where a rejected plan goes back to (the orchestrator's ledger); the plan's writer by default.
        after_plan: where an approved plan goes (the flow's next step).
        on_reject_final: where a result a person rejected goes; the coder by default.
    """

    def __init__(self, spec: TeamSpec, graph: StateGraph, *, plan_node: str | None = None,
                 after_plan: Router | None = None, on_reject_final: str | None = None):
        self.spec, self.graph = spec, graph
        self.orchestrator = spec.orchestrator()
        self.workers = [r.name for r in spec.workers()]
        self.coders = [r.name for r in spec.roles if r.behaviour == "coder"]
        self.executing = spec.sandbox.enabled and bool(self.coders)
        self.gates = list(spec.approval)
        self.plan_node, self.on_reject_final = plan_node, on_reject_final
        self.after_plan = after_plan or self.after_worker_plan

    # -- nodes ------------------------------------------------------------------------------------------------
    def add_roles(self) -> None:
        """A node per role: it sees the main line only (parallel branches keep their work to themselves)."""
        for role in self.spec.roles:
            self.graph.add_node(role.name, self._role_node(role.name))

    def _role_node(self, name: str):
        spec, role_fn = self.spec, ROLE_FUNCTIONS[self.spec.role(name).behaviour]

        def node(state: TeamState, runtime: Runtime[RunWiring]) -> dict[str, Any]:
            messages = role_fn({**state, "transcript": main_line(state["transcript"])}, runtime.context.contexts[name])
            runtime.context.publish(messages)
            return node_update(spec, name, messages, state)

        return node

    def add_shared(self, *, execute_node_too: bool = True) -> None:
        """The execute node (when code runs), the approval gates and the final node, with their routes."""
        spec = self.spec

        def final_node(state: TeamState, runtime: Runtime[RunWiring]) -> dict[str, Any]:
            wiring = runtime.context
            final = final_message(spec, wiring.run_id, state)
            notes = wiring.reflect([*state["transcript"], final], "done", None) if wiring.reflect else []
            wiring.publish([*notes, final])
            return node_update(spec, FINAL_NODE, [*notes, final], state)

        def execute_node(state: TeamState, runtime: Runtime[RunWiring]) -> dict[str, Any]:
            transcript = main_line(state["transcript"])
            messages = execute({**state, "transcript": transcript}, self._coder_context(transcript, runtime.context))
            runtime.context.publish(messages)
            return node_update(spec, EXECUTE_NODE, messages, state)

        self.graph.add_node(FINAL_NODE, final_node)
        if self.executing and execute_node_too:
            self.graph.add_node(EXECUTE_NODE, execute_node)
            self.graph.add_conditional_edges(EXECUTE_NODE, self.after_execute)
        for point in self.gates:
            self.graph.add_node(gate_node(point), self._gate(point))
            self.graph.add_conditional_edges(gate_node(point), self._after_gate(point))

    def _coder_context(self, transcript, wiring: RunWiring):
        """Whose sandbox runs the latest code: its writer's, or for a person's edit, the edited code's writer's."""
        code = last(transcript, Code)
        sender = code.sender
        if sender not in wiring.contexts or wiring.contexts[sender].sandbox is None:
            original = next((m for m in transcript if m.id == code.parent_id), None)
            sender = original.sender if original is not None else ""
        if sender not in wiring.contexts or wiring.contexts[sender].sandbox is None:
            sender = self.coders[0]
        return wiring.contexts[sender]

    def _gate(self, point: str):
        spec = self.spec

        def node(state: TeamState, runtime: Runtime[RunWiring]) -> dict[str, Any]:
            messages = gate_messages(point, {**state, "transcript": main_line(state["transcript"])},
                                     runtime.context.run_id)
            runtime.context.publish(messages)
            return node_update(spec, gate_node(point), messages, state)

        return node

    # -- routes -----------------------------------------------------------------------------------------------
    def to_final(self) -> str:
        return gate_node("before_final") if "before_final" in self.gates else FINAL_NODE

    def to_execute(self) -> str:
        return gate_node("before_execution") if "before_execution" in self.gates else EXECUTE_NODE

    def out_of_rounds(self, state: TeamState) -> bool:
        return state.get("turns", 0) >= self.spec.flow.max_rounds

    def after_worker(self, state: TeamState) -> str:
        """After a worker (or a node that ends like one): run new code, gate a plan, end on approval, or go on."""
        latest = main_line(state["transcript"])[-1]
        if isinstance(latest, (Plan, Ledger)) and "after_plan" in self.gates:
            return gate_node("after_plan")
        if self.executing and isinstance(latest, Code) and latest.code:
            return self.to_execute()
        return self.next_speaker(state, latest)

    def next_speaker(self, state: TeamState, latest) -> str:
        if isinstance(latest, Review) and latest.verdict == "approve":
            return self.to_final()
        if self.out_of_rounds(state):
            return self.to_final()
        if self.orchestrator is not None:
            return self.orchestrator.name
        return self.spec.successor(latest.sender) or self.to_final()

    def after_worker_plan(self, state: TeamState) -> str:
        """Where an approved plan goes in a flow without a start of its own: on, as from the planner."""
        transcript = main_line(state["transcript"])
        plan = last(transcript, (Plan, Ledger))
        if plan.sender == "user":  # a person's edit: go on as from the plan they edited
            plan = next((m for m in transcript if m.id == plan.parent_id), plan)
        return self.next_speaker(state, plan)

    def after_execute(self, state: TeamState) -> str:
        transcript = main_line(state["transcript"])
        ran = last(transcript, Execution)
        retry = ran is not None and not ran.ok and not self.out_of_rounds(state)
        if retry and ran.sender in self.workers and \
                attempts_in_step(transcript, ran.sender) < self.spec.sandbox.max_attempts:
            return ran.sender  # code as action: the coder reads the result and tries again
        return self.next_speaker(state, ran if ran is not None else transcript[-1])

    def _after_gate(self, point: str) -> Router:
        def route(state: TeamState) -> str:
            transcript = main_line(state["transcript"])
            verdict = last(transcript, Approval)
            if verdict is None or verdict.status != "rejected":
                return {"after_plan": self.after_plan, "before_execution": lambda s: EXECUTE_NODE,
                        "before_final": lambda s: FINAL_NODE}[point](state)
            if self.out_of_rounds(state):
                return FINAL_NODE
            if point == "after_plan":
                plan = last(transcript, (Plan, Ledger))
                return self.plan_node or plan.sender
            if point == "before_final" and self.on_reject_final is not None:
                return self.on_reject_final
            code = last(transcript, Code)
            return code.sender if code is not None and code.sender in self.coders else self.coders[0]

        return route
