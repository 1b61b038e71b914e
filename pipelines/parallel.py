"""``flow.type: parallel_plan``: the planner's steps run at once, as in LLMCompiler.

The planner writes a graph of steps with dependencies. Every step whose
dependencies are done starts at once, each on its own coder (a coder of the
team working in the step's branch), which writes, runs and fixes its part.
Steps run in waves: a wave starts when the one before it has finished. When
no step is left that can start, the joiner either asks the planner for a new
plan (a step failed and ``flow.max_replans`` allows it) or joins the steps'
code, which then runs against the task's tests and goes to review on the main
line like any other code.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from pipelines._base import FINAL_NODE, RunWiring, coder_names, node_update
from pipelines._branch import branch_messages, run_coder_branch
from pipelines._main import MainLine
from pipelines.nodes import gate_node
from roles import TeamState
from roles.base import last, last_code, main_line
from roles.executor import execution_of
from studio.messages import Code, Decision, Message, Plan, PlanStep
from studio.spec import TeamSpec

__all__ = ["build_parallel_plan", "current_plan", "dispatch", "join_node", "step_node", "step_results", "waves_node"]

STEP, WAVES, JOIN = "_step", "_waves", "_join"


def step_results(transcript: list[Message], plan: Plan, running: bool) -> dict[str, str]:
    """Each step of ``plan``: ``pending``, ``done`` or ``failed`` (its code failed, or none was written)."""
    status = {}
    for step in plan.steps:
        made = branch_messages(transcript, step.id, since=plan)
        code = last_code(made)
        if not made:
            status[step.id] = "pending"
        elif code is None:
            status[step.id] = "failed"
        else:
            ran = execution_of(made, code)
            status[step.id] = "done" if not running or (ran is not None and ran.ok) else "failed"
    return status


def _ready(plan: Plan, status: dict[str, str]) -> list[PlanStep]:
    known = set(status)
    return [s for s in plan.steps if status[s.id] == "pending"
            and all(status.get(d) == "done" for d in s.depends_on if d in known and d != s.id)]


def _in_order(plan: Plan) -> list[PlanStep]:
    """The steps with every dependency before the steps that need it (plan order among equals)."""
    done: list[PlanStep] = []
    left = list(plan.steps)
    while left:
        ids = {s.id for s in done}
        step = next((s for s in left if all(d in ids or d not in {x.id for x in plan.steps} or d == s.id
                                            for d in s.depends_on)), left[0])
        done.append(step)
        left.remove(step)
    return done


def _planner(spec: TeamSpec) -> str:
    return next(r.name for r in spec.roles if r.behaviour == "planner")


def current_plan(state: TeamState) -> Plan:
    """The plan the steps work from: the main line's latest."""
    return last(main_line(state["transcript"]), Plan)  # type: ignore[return-value]  # steps run after a plan


def dispatch(state: TeamState, *, spec: TeamSpec) -> Any:
    """Every step that can start (a branch each), the joiner when none can, or the planner when asked to replan."""
    transcript, latest = state["transcript"], state["transcript"][-1]
    if isinstance(latest, Decision) and not latest.branch and latest.next_speaker == _planner(spec):
        return _planner(spec)  # the joiner asked for a new plan
    plan = current_plan(state)
    ready = _ready(plan, step_results(transcript, plan, spec.sandbox.enabled))
    if not ready:
        return JOIN
    return [Send(STEP, {"transcript": transcript, "turns": state.get("turns", 0), "branch": s.id}) for s in ready]


def step_node(state: TeamState, runtime: Runtime[RunWiring], *, spec: TeamSpec) -> dict[str, Any]:
    """One step of the plan (``state["branch"]``) on its coder, given the code of the steps it depends on."""
    transcript, plan, coders = state["transcript"], current_plan(state), coder_names(spec)
    index, step = next((i, s) for i, s in enumerate(plan.steps) if s.id == state["branch"])
    deps = [(d, last_code(branch_messages(transcript, d, since=plan))) for d in step.depends_on]
    deps = [(d, code) for d, code in deps if code is not None]
    coder = coders[index % len(coders)]
    # deps keeps only the steps that have code (filtered above)
    shown = "".join(f"\nStep {d} gave:\n```python\n{code.code}\n```" for d, code in deps)  # type: ignore[union-attr]
    head = Decision(run_id=runtime.context.run_id, sender="system", next_speaker=coder,
                    content=f"step {step.id} → {coder}: {step.description}",
                    instruction=f"Do step {step.id} of the plan only: {step.description}{shown}")
    made = run_coder_branch(state, runtime.context, coder, step.id, [head], task_tests=False,
                            prelude="\n\n".join(code.code for _, code in deps))  # type: ignore[union-attr]
    return {"transcript": made}


def waves_node(state: TeamState, runtime: Runtime[RunWiring], *, spec: TeamSpec) -> dict[str, Any]:
    """Between waves: when nothing more can start and a step failed, ask for a new plan if allowed."""
    plan = current_plan(state)
    status = step_results(state["transcript"], plan, spec.sandbox.enabled)
    failed = [s for s in plan.steps if status[s.id] == "failed"]
    replans = sum(isinstance(m, Plan) for m in main_line(state["transcript"])) - 1
    if _ready(plan, status) or not failed or replans >= spec.flow.max_replans:
        return {}
    why = "; ".join(f"{s.id} ({s.description})" for s in failed)
    ask = Decision(run_id=runtime.context.run_id, sender="system", next_speaker=_planner(spec),
                   content=f"replan: step(s) failed: {why}",
                   instruction=f"These steps failed: {why}. Write a new plan that avoids the failure.")
    runtime.context.publish([ask])
    return {"transcript": [ask]}


def join_node(state: TeamState, runtime: Runtime[RunWiring], *, spec: TeamSpec) -> dict[str, Any]:
    """The code of the steps that are done, joined in dependency order, as one code message on the main line."""
    plan = current_plan(state)
    status = step_results(state["transcript"], plan, spec.sandbox.enabled)
    parts, done = [], []
    for step in _in_order(plan):
        code = last_code(branch_messages(state["transcript"], step.id, since=plan))
        if status[step.id] == "done" and code is not None:
            done.append(step.id)
            if code.code.strip() not in parts:
                parts.append(code.code.strip())
    missing = [s.id for s in plan.steps if s.id not in done]
    joined = Code(run_id=runtime.context.run_id, sender=coder_names(spec)[0], parent_id=plan.id,
                  code="\n\n\n".join(parts), content=f"Joined the code of steps {', '.join(done) or '(none)'}"
                                                    + (f"; not done: {', '.join(missing)}." if missing else "."))
    runtime.context.publish([joined])
    return node_update(spec, JOIN, [joined], state)


def build_parallel_plan(spec: TeamSpec, graph: StateGraph) -> None:
    """Planner, waves of steps, the joiner, then the main line (execute, review, final)."""
    planner, route = _planner(spec), partial(dispatch, spec=spec)
    main = MainLine(spec, graph, after_plan=route)
    main.add_roles()
    main.add_shared()
    graph.add_node(STEP, partial(step_node, spec=spec))
    graph.add_node(WAVES, partial(waves_node, spec=spec))
    graph.add_node(JOIN, partial(join_node, spec=spec))
    graph.add_edge(STEP, WAVES)
    graph.add_conditional_edges(WAVES, route)
    graph.add_conditional_edges(JOIN, main.after_worker)
    graph.add_edge(START, planner)
    graph.add_conditional_edges(planner, lambda state: gate_node("after_plan") if "after_plan" in main.gates
                                else route(state))
    for name in main.workers:
        if name != planner:
            graph.add_conditional_edges(name, main.after_worker)
    graph.add_edge(FINAL_NODE, END)
