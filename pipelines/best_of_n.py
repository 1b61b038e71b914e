"""``flow.type: best_of_n``: a small tree search, as in CodeTree.

After the designed tests (when the team has a test designer) and the plan (when it has
a planner), ``flow.candidates`` coders write a solution each, in parallel branches; each
runs against the task's tests and fixes its code from the result. The critic ranks the
candidates with that evidence (the task's examples, agreement on probe inputs, the
designed tests weighed by how many candidates pass them: :mod:`roles.vote`) and reviews
the best one, which continues on the main line: approved, it is the result; otherwise the
coder revises it there, as in the sequential flow. Candidates after the first sample at a
higher temperature, so a real model gives different ones.

Adaptive N (``flow.agree``): each candidate posts its evidence on the step's board
(:mod:`roles.board`) once it has run, and a candidate whose model call comes after the
evidence decided the step is not written (nor fixed); the ranking reuses the posted evidence.
With ``flow.give_up_after``, a step whose first candidates' evidence leads nowhere stops too.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from pipelines._base import FINAL_NODE, RunWiring, coder_names
from pipelines._branch import branch_result, run_coder_branch
from pipelines._main import MainLine
from pipelines.nodes import gate_node
from pipelines.ranking import rank_node
from roles import RoleContext, TeamState
from roles.base import last, main_line, task_of
from roles.board import Board, CandidateSkipped, evidence_of
from roles.executor import given_tests
from roles.probe import probe_calls
from roles.ranker import Candidate, rank_candidates
from studio._serial_ast import serial_ast
from studio.messages import DesignedTests, Message, Plan, Ranking, Task
from studio.spec import TeamSpec
from studio.spec.flow import Flow

__all__ = ["CANDIDATE_TEMPERATURE", "board_of", "build_best_of_n", "candidate_names", "candidate_node",
           "candidate_temperature", "candidates", "fan_out", "rank_node_of_step", "rank_step", "rankers"]

CANDIDATE, RANK = "_candidate", "_rank"
CANDIDATE_TEMPERATURE: float = Flow.model_fields["candidate_temperature"].default
"""The least temperature of the candidates after the first, unless the flow says otherwise
(``flow.candidate_temperature``, whose default this is)."""


def candidate_temperature(base: float, index: int, least: float = CANDIDATE_TEMPERATURE) -> float:
    """Candidate ``index``'s temperature (from 0): ``base`` for the first, at least ``least`` after.

    The same rule for the team's candidates and for the same-budget baselines' samples
    (:mod:`studio.eval.baselines`), so both sample alike.

    Example:
        >>> candidate_temperature(0.2, 0), candidate_temperature(0.2, 1), candidate_temperature(0.2, 1, 0.5)
        (0.2, 0.8, 0.5)
    """
    return base if index == 0 else max(base, least)


def candidate_names(spec: TeamSpec) -> list[str]:
    """The candidate branches: ``c1`` … ``cN``."""
    return [f"c{i}" for i in range(1, spec.flow.candidates + 1)]


def rankers(spec: TeamSpec) -> set[str]:
    """The critics: the ranking runs the candidates on probe inputs in their sandbox."""
    return {r.name for r in spec.roles if r.behaviour == "critic"}


def fan_out(state: TeamState, *, spec: TeamSpec) -> list[Send]:
    """A branch per candidate, each from the main line so far."""
    return [Send(CANDIDATE, {"transcript": state["transcript"], "turns": state.get("turns", 0), "branch": b})
            for b in candidate_names(spec)]


def origin(state: TeamState) -> Message | None:
    """What the candidates worked from: the latest plan, or the task."""
    return last(main_line(state["transcript"]), (Plan, Task))


def board_of(state: TeamState, wiring: RunWiring, spec: TeamSpec) -> Board:
    """The evidence board of the step ``state`` is at (one per plan or task, in the run's wiring)."""
    since = origin(state)
    key = since.id if since is not None else ""
    board = wiring.boards.get(key)
    if board is None:
        transcript = main_line(state["transcript"])
        task, designed = task_of(transcript), last(transcript, DesignedTests)
        probing = spec.sandbox.enabled and spec.flow.candidates >= 3  # the ranking's agreement needs three
        examples = bool(given_tests(task, edge_cases=False))  # what empty input gives says little of the rest
        made = Board(spec.flow.agree, examples, probe_calls(task) if probing else [],
                     designed.tests if designed else [], replayed=wiring.replayed, give_up=spec.flow.give_up_after)
        board = wiring.boards.setdefault(key, made)  # atomic: branches starting together share the first one
    return board


def candidate_node(state: TeamState, runtime: Runtime[RunWiring], *, spec: TeamSpec) -> dict[str, Any]:
    """Candidate ``state["branch"]``: a coder writes and runs its solution (after the first, hotter).

    Its evidence then goes on the step's board; once the board is decided, the candidates not yet written
    are skipped (adaptive N, ``flow.agree``).
    """
    branch, wiring = state["branch"], runtime.context
    coders, index = coder_names(spec), candidate_names(spec).index(branch)
    coder = coders[index % len(coders)]
    temperature = spec.role(coder).limits.temperature
    base = spec.defaults.temperature if temperature is None else temperature
    options: dict[str, Any] = {}  # the first candidate samples at its coder's own temperature
    if index:
        options["temperature"] = candidate_temperature(base, index, spec.flow.candidate_temperature)
    board = board_of(state, wiring, spec)
    try:
        board.check(branch)
    except CandidateSkipped:
        return {"transcript": []}
    # a reply without usable code is a failed candidate, not repaired: the next candidate costs less
    repairs = 0 if spec.flow.candidates > 1 else 1
    made = run_coder_branch(state, wiring, coder, branch, [], before_call=partial(board.check, branch),
                            repairs=repairs, **options)
    code, ran = branch_result(made, branch)[1:]
    sandbox = wiring.contexts[coder].sandbox
    if code is not None and code.code and sandbox is not None and spec.sandbox.enabled:
        board.post(branch, evidence_of(code.code, ran, board, sandbox, branch))
    return {"transcript": made}


def candidates(state: TeamState, spec: TeamSpec) -> list[Candidate]:
    """Each written candidate's last code and the run of it (since the plan or task they worked from).

    A candidate that adaptive N skipped before it wrote anything is left out.
    """
    transcript, since = state["transcript"], origin(state)
    found = [(name, branch_result(transcript, name, since)) for name in candidate_names(spec)]
    return [Candidate(name, code, ran) for name, (made, code, ran) in found if made]


def rank_step(state: TeamState, ctx: RoleContext, found: list[Candidate], *, spec: TeamSpec,
              board: Board | None) -> list[Message]:
    """The critic ranks the written candidates with the evidence they posted; the ranking says what was skipped."""
    messages = rank_candidates(state, ctx, found, board=board)
    if board is None or not board.skipped:
        return messages
    skipped = sorted(set(board.skipped) - {c.name for c in found}, key=candidate_names(spec).index)
    if not skipped:
        return messages
    names, were = ", ".join(skipped), "was" if len(skipped) == 1 else "were"
    if board.gave_up:
        nowhere = "none passed the task's examples" if board.examples else "no two that ran returned the same values"
        note = (f" Adaptive N (give up after {board.give_up}): {len(found)} of {spec.flow.candidates} candidates "
                f"written; the evidence led nowhere ({nowhere}), so {names} {were} not written.")
    else:
        note = (f" Adaptive N (agree {board.agree}): {len(found)} of {spec.flow.candidates} candidates written; the "
                f"evidence had decided, so {names} {were} not needed.")
    return [m.model_copy(update={"reason": m.reason + note, "content": m.content + note})
            if isinstance(m, Ranking) else m for m in messages]


def rank_node_of_step(state: TeamState, runtime: Runtime[RunWiring], *, spec: TeamSpec, critic: str) -> dict[str, Any]:
    """The ranking of the step's candidates, with the evidence its board holds (the board is done with then)."""
    since = origin(state)
    board = runtime.context.boards.pop(since.id if since is not None else "", None)
    return rank_node(state, runtime, spec=spec, node=RANK, ranker=critic, collect=candidates,
                     compare=partial(rank_step, spec=spec, board=board))


def build_best_of_n(spec: TeamSpec, graph: StateGraph) -> None:
    """Optional planner, N candidate branches, the ranking critic, then the main line."""
    serial_ast()  # the candidates parse code (their evidence) on threads at once
    planner = next((r.name for r in spec.roles if r.behaviour == "planner"), None)
    designer = next((r.name for r in spec.roles if r.behaviour == "test_designer"), None)
    critic = next(r.name for r in spec.roles if r.behaviour == "critic")
    start = partial(fan_out, spec=spec)
    main = MainLine(spec, graph, after_plan=start)
    main.add_roles()
    main.add_shared()
    graph.add_node(CANDIDATE, partial(candidate_node, spec=spec))
    graph.add_node(RANK, partial(rank_node_of_step, spec=spec, critic=critic))
    graph.add_edge(CANDIDATE, RANK)
    graph.add_conditional_edges(RANK, main.after_worker)
    first = designer or planner
    if designer is not None:  # the tests come from the task alone, before any plan or code
        graph.add_edge(designer, planner) if planner is not None else graph.add_conditional_edges(designer, start)
    if planner is not None:
        graph.add_conditional_edges(planner, lambda state: gate_node("after_plan") if "after_plan" in main.gates
                                    else start(state))
    if first is not None:
        graph.add_edge(START, first)
    else:
        graph.add_conditional_edges(START, start)
    for name in main.workers:
        if name not in (planner, designer):
            graph.add_conditional_edges(name, main.after_worker)
    graph.add_edge(FINAL_NODE, END)
