"""The main line every flow shares: role nodes, the execute node, approval gates and the final node.

The routes between them: code goes to the sandbox, a failed run back to its coder, an approval to the end.

A flow builds its own start (a ledger, a plan of parallel steps, candidates, sub-teams) and then hands over
to these nodes, so execution, review and approval behave the same in every flow.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from langgraph.graph import StateGraph

from pipelines._base import EXECUTE_NODE, FINAL_NODE, coder_names
from pipelines.nodes import approval_node, execute_node, final_node, gate_node, role_node
from roles import TeamState
from roles.base import last, main_line
from roles.executor import attempts_in_step
from studio.messages import Approval, Code, Execution, Ledger, Plan, Review
from studio.spec import TeamSpec

__all__ = ["MainLine", "gate_node"]

Router = Callable[[TeamState], Any]


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
        self.coders = coder_names(spec)
        self.executing = spec.sandbox.enabled and bool(self.coders)
        self.gates = spec.approval_points()
        self.plan_node, self.on_reject_final = plan_node, on_reject_final
        self.after_plan = after_plan or self.after_worker_plan

    # -- nodes ------------------------------------------------------------------------------------------------
    def add_roles(self) -> None:
        """A node per role: it sees the main line only (parallel branches keep their work to themselves)."""
        for role in self.spec.roles:
            self.graph.add_node(role.name, partial(role_node, spec=self.spec, name=role.name))

    def add_shared(self, *, execute_node_too: bool = True) -> None:
        """The execute node (when code runs), the approval gates and the final node, with their routes."""
        self.graph.add_node(FINAL_NODE, partial(final_node, spec=self.spec))
        if self.executing and execute_node_too:
            self.graph.add_node(EXECUTE_NODE, partial(execute_node, spec=self.spec))
            self.graph.add_conditional_edges(EXECUTE_NODE, self.after_execute)
        for point in self.gates:
            self.graph.add_node(gate_node(point), partial(approval_node, spec=self.spec, point=point))
            self.graph.add_conditional_edges(gate_node(point), partial(self.after_gate, point=point))

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
        plan: Any = last(transcript, (Plan, Ledger))  # Any: an approved plan exists; its source may be any kind
        if plan.sender == "user":  # a person's edit: go on as from the plan they edited
            plan = next((m for m in transcript if m.id == plan.parent_id), plan)
        return self.next_speaker(state, plan)

    def after_execute(self, state: TeamState) -> str:
        transcript = main_line(state["transcript"])
        ran = last(transcript, Execution)
        retry = ran is not None and not ran.ok and not self.out_of_rounds(state)
        # retry implies ran (mypy cannot see it through the flag)
        if (retry and ran.sender in self.workers  # type: ignore[union-attr]
                and attempts_in_step(transcript, ran.sender) < self.spec.sandbox.max_attempts):  # type: ignore[union-attr]
            return ran.sender  # type: ignore[union-attr]  # code as action: the coder reads the result and tries again
        return self.next_speaker(state, ran if ran is not None else transcript[-1])

    def after_gate(self, state: TeamState, point: str) -> str:
        """After a person answered at ``point``: on when approved, back to whoever made the subject when rejected."""
        transcript = main_line(state["transcript"])
        verdict = last(transcript, Approval)
        if verdict is None or verdict.status != "rejected":
            return {"after_plan": self.after_plan, "before_execution": lambda s: EXECUTE_NODE,
                    "before_final": lambda s: FINAL_NODE}[point](state)
        if self.out_of_rounds(state):
            return FINAL_NODE
        if point == "after_plan":
            plan = last(transcript, (Plan, Ledger))
            return self.plan_node or plan.sender  # type: ignore[union-attr]  # a rejected plan exists
        if point == "before_final" and self.on_reject_final is not None:
            return self.on_reject_final
        code = last(transcript, Code)
        return code.sender if code is not None and code.sender in self.coders else self.coders[0]
