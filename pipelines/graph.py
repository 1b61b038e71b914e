"""Compile a team spec into a LangGraph ``StateGraph``, by its ``flow.type``.

Every flow shares the main line (:mod:`pipelines._main`): one node per role,
an execute node that runs new code in the sandbox (a failing run goes straight
back to its coder, up to ``sandbox.max_attempts`` tries per step), approval
gates, and a final node that also has the run reflect into memory. The flows
differ in how they start: the orchestrator or the edges (``sequential``), a
task ledger with replans on stalls (``magentic``), parallel plan steps
(``parallel_plan``), parallel candidates (``best_of_n``) or parallel sub-teams
(``cross_team``).

What belongs to one run (the role contexts with their model, and the bus to
publish on) comes in LangGraph's runtime context, so one compiled graph serves
every run of a team. Each node publishes its messages when it finishes (a
parallel branch as it goes), then returns them as its state update, so the run
log and the checkpoint never disagree by more than the last step (which
:func:`node_update` lets the runner replay on resume).

Example:
    >>> from studio.spec import TeamSpec, RoleSpec
    >>> roles = [RoleSpec(name="coder", kind="coder"), RoleSpec(name="critic", kind="critic")]
    >>> team = TeamSpec(name="duo", roles=roles)
    >>> sorted(build_graph(team).nodes)
    ['_execute', '_final', 'coder', 'critic']
"""

from __future__ import annotations

from langgraph.graph import StateGraph

from pipelines._base import (
    BRANCH_NODES,
    EXECUTE_NODE,
    FINAL_NODE,
    LEDGER_NODE,
    RunWiring,
    coder_names,
    final_message,
    new_graph,
    node_update,
)
from pipelines.best_of_n import build_best_of_n, rankers
from pipelines.cross_team import build_cross_team, judges
from pipelines.magentic import build_magentic
from pipelines.parallel import build_parallel_plan
from pipelines.sequential import build_sequential
from studio.spec import TeamSpec

__all__ = ["BRANCH_NODES", "EXECUTE_NODE", "FINAL_NODE", "LEDGER_NODE", "RunWiring", "build_graph",
           "executing_roles", "final_message", "node_update"]

_BUILDERS = {"sequential": build_sequential, "magentic": build_magentic, "parallel_plan": build_parallel_plan,
             "best_of_n": build_best_of_n, "cross_team": build_cross_team}
_COMPARERS = {"best_of_n": rankers, "cross_team": judges}
"""Flows whose comparing role runs code too (probes of the candidates, a merge of the sub-teams)."""


def build_graph(spec: TeamSpec) -> StateGraph:
    """Wire the roles of ``spec`` into a graph (uncompiled); run it with a :class:`RunWiring` context."""
    graph = new_graph()
    _BUILDERS[spec.flow.type](spec, graph)
    return graph


def executing_roles(spec: TeamSpec) -> set[str]:
    """The roles that run code in the sandbox (when the team has it on).

    Every coder, and in a flow that compares parallel results, the role that compares them.

    Example:
        >>> from studio.spec import TeamSpec, RoleSpec
        >>> roles = [RoleSpec(name="coder", kind="coder"), RoleSpec(name="critic", kind="critic")]
        >>> sorted(executing_roles(TeamSpec(name="duo", roles=roles)))
        ['coder']
    """
    compare = _COMPARERS.get(spec.flow.type)
    return set(coder_names(spec)) | (compare(spec) if compare is not None else set())
