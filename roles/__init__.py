"""The agents: planner, coder, critic and orchestrator.

Each role is a plain function ``(state, ctx) -> list[Message]``; ``ROLE_FUNCTIONS``
maps a role kind to its function.
"""

from __future__ import annotations

from roles.base import Completion, ModelFn, RoleContext, TeamState
from roles.coder import write_code
from roles.critic import review
from roles.orchestrator import default_next, orchestrate
from roles.planner import plan

ROLE_FUNCTIONS = {"planner": plan, "coder": write_code, "critic": review, "orchestrator": orchestrate}

__all__ = ["ROLE_FUNCTIONS", "Completion", "ModelFn", "RoleContext", "TeamState", "default_next",
           "orchestrate", "plan", "review", "write_code"]
