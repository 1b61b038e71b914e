"""LangGraph pipelines compiled from a team spec: one builder per flow type, sharing the main line."""

from __future__ import annotations

from pipelines._base import budget_final
from pipelines.approval import ApprovalDecision, pending_approval
from pipelines.graph import (
    BRANCH_NODES,
    EXECUTE_NODE,
    FINAL_NODE,
    RunWiring,
    build_graph,
    executing_roles,
    final_message,
    node_update,
)

__all__ = ["BRANCH_NODES", "EXECUTE_NODE", "FINAL_NODE", "ApprovalDecision", "RunWiring", "budget_final",
           "build_graph", "executing_roles", "final_message", "node_update", "pending_approval"]
