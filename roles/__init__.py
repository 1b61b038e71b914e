"""The agents: planner, coder, critic, orchestrator and test designer.

Each role is a plain function ``(state, ctx) -> list[Message]``; ``ROLE_FUNCTIONS``
maps a role kind to its function.
"""

from __future__ import annotations

from roles.base import Completion, ModelFn, RoleContext, TeamState
from roles.coder import write_code
from roles.critic import review
from roles.designer import design_tests
from roles.orchestrator import default_next, orchestrate
from roles.planner import plan

ROLE_FUNCTIONS = {"planner": plan, "coder": write_code, "critic": review, "orchestrator": orchestrate,
                  "test_designer": design_tests}

__all__ = ["ROLE_FUNCTIONS", "Completion", "ModelFn", "RoleContext", "TeamState", "default_next",
           "design_tests", "orchestrate", "plan", "review", "write_code"]
