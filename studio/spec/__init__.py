"""The versioned team spec: one pydantic model the UI edits, notebooks build, the exporter prints and the runner runs.

``team`` holds the team and its roles, ``flow`` the pipeline and its edges, ``memory``
the shared memory and tools, ``sandbox`` where model-written code runs.

Example:
    >>> from studio.spec import TeamSpec
    >>> TeamSpec(name="solo", roles=[{"name": "coder", "kind": "coder"}]).roles[0].kind
    'coder'
"""

from __future__ import annotations

from studio.spec.budget import BUDGET_FIELDS, Budget
from studio.spec.flow import APPROVAL_POINTS, FLOW_TYPES, Edge, Flow, ProviderLimits, SubTeam
from studio.spec.io import dump_spec, load_spec, parse_spec, read_spec_data
from studio.spec.memory import COLLECTIONS, TOOLS, EmbedderSpec, MemorySpec, RoleMemory
from studio.spec.sandbox import SandboxSpec
from studio.spec.team import (
    DEFAULT_MODEL,
    ROLE_KINDS,
    SPEC_VERSION,
    Defaults,
    Example,
    RoleLimits,
    RoleSpec,
    SpecError,
    TeamSpec,
    free_role_name,
)
from studio.spec.tools import McpServer, McpTools, PythonTool, ToolApproval, ToolRef, approval_label, tool_label

__all__ = [
    "APPROVAL_POINTS",
    "BUDGET_FIELDS",
    "COLLECTIONS",
    "DEFAULT_MODEL",
    "FLOW_TYPES",
    "ROLE_KINDS",
    "SPEC_VERSION",
    "TOOLS",
    "Budget",
    "Defaults",
    "Edge",
    "EmbedderSpec",
    "Example",
    "Flow",
    "McpServer",
    "McpTools",
    "MemorySpec",
    "ProviderLimits",
    "PythonTool",
    "RoleLimits",
    "RoleMemory",
    "RoleSpec",
    "SandboxSpec",
    "SpecError",
    "SubTeam",
    "TeamSpec",
    "ToolApproval",
    "ToolRef",
    "free_role_name",
    "approval_label",
    "dump_spec",
    "load_spec",
    "read_spec_data",
    "tool_label",
    "parse_spec",
]
