"""LangGraph pipelines compiled from a team spec."""

from __future__ import annotations

from pipelines.graph import EXECUTE_NODE, FINAL_NODE, RunWiring, build_graph, final_message, node_update

__all__ = ["EXECUTE_NODE", "FINAL_NODE", "RunWiring", "build_graph", "final_message", "node_update"]
