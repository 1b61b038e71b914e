"""The team spec: one versioned pydantic model, the single source of truth.

The studio edits it, notebooks build it, the exporter prints it and the runner
compiles it. Files are YAML or JSON.

Example:
    >>> spec = TeamSpec(name="duo", roles=[RoleSpec(name="coder", kind="coder")])
    >>> TeamSpec.model_validate(spec.model_dump(by_alias=True)) == spec
    True
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from studio.redact import is_provider_key_name, redact, secret_fields
from studio.spec.budget import Budget
from studio.spec.flow import (
    APPROVAL_POINTS,
    FLOW_TYPES,
    ApprovalPoint,
    Edge,
    Flow,
    ProviderLimits,
    SubTeam,
    flow_problems,
)
from studio.spec.memory import (
    COLLECTIONS,
    DEFAULT_READ,
    DEFAULT_WRITE,
    TOOLS,
    EmbedderSpec,
    MemorySpec,
    RoleMemory,
)
from studio.spec.sandbox import SandboxSpec
from studio.spec.tools import McpServer, McpTools, PythonTool, ToolApproval, ToolRef

__all__ = [
    "APPROVAL_POINTS",
    "COLLECTIONS",
    "FLOW_TYPES",
    "ROLE_KINDS",
    "SPEC_VERSION",
    "TOOLS",
    "Defaults",
    "Edge",
    "Example",
    "EmbedderSpec",
    "Flow",
    "MemorySpec",
    "ProviderLimits",
    "RoleMemory",
    "RoleSpec",
    "SandboxSpec",
    "SpecError",
    "SubTeam",
    "TeamSpec",
    "free_role_name",
]

SPEC_VERSION: Final = 1
ROLE_KINDS = ("planner", "coder", "critic", "orchestrator", "test_designer")
RoleKind = Literal["planner", "coder", "critic", "orchestrator", "test_designer"]
DEFAULT_MODEL = "local/smollm2"
_BUS_URL = re.compile(r"rediss?://[^:@/?]*(:\d+)?(/\d*)?(\?namespace=[\w.-]+)?")
_STORE_URL = re.compile(r"postgres(ql)?://([^:@/?]+@)?[^:@/?]*(:\d+)?(/[^?]*)?(\?(?!(.*&)?password=).*)?")


def free_role_name(base: str, taken: Collection[str]) -> str:
    """``base`` when no role has it, else the first free of ``base2``, ``base3``, … (kept within 40 characters).

    Example:
        >>> free_role_name("coder", ["coder", "coder2"]), free_role_name("critic", ["coder"])
        ('coder3', 'critic')
    """
    if base not in taken:
        return base
    number = 2
    while f"{base[:37]}{number}" in taken:
        number += 1
    return f"{base[:37]}{number}"


class SpecError(ValueError):
    """A team spec that cannot be used; ``problems`` lists ``field: what`` lines."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid team spec {source}:\n{lines}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Defaults(_Model):
    """Settings every role inherits unless it sets its own."""

    model: str = DEFAULT_MODEL
    """litellm model string, ``local/smollm2`` or ``scripted:PATH``."""
    temperature: float = Field(0.2, ge=0, le=2)
    max_tokens: int = Field(512, ge=1, le=32768)
    """Upper bound on tokens per reply."""
    timeout_s: float = Field(120, gt=0)
    """Timeout of one model call."""
    retries: int = Field(2, ge=0, le=10)
    """Retries on provider errors (rate limits, timeouts, 5xx)."""
    retry_backoff_s: float = Field(1.0, ge=0)
    """First back-off delay; doubles on each retry."""
    max_concurrency: int = Field(4, ge=1)
    """Model calls in flight at once across the team."""
    api_base: str | None = None
    """Endpoint for self-hosted providers (an Ollama or vLLM server URL). It gets no key from the environment
    (not the provider's, e.g. ``$OPENAI_API_KEY``) unless ``api_key_env`` names one."""
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    """Name of the environment variable holding the key for ``api_base`` (``MY_GATEWAY_KEY``); never the key."""
    native_tools: bool | None = None
    """Whether roles with tools get them as the provider's native function calls (litellm's ``tools=``):
    ``None`` asks litellm whether the model supports them, ``true`` forces it on (a self-hosted server such as
    llama.cpp's, vLLM or Ollama that litellm has no entry for), ``false`` off (tools go through constrained
    JSON instead). The embedded and scripted models always use constrained JSON."""
    bus_url: str | None = None
    """The bus of this team's runs: ``redis://HOST:PORT/DB`` (Redis Streams) instead of the SQLite run log in
    ``$HUDDLE_HOME``; ``$HUDDLE_BUS_URL`` wins when set. No password here (the spec is stored with every run):
    set ``$HUDDLE_BUS_PASSWORD``."""
    store_url: str | None = None
    """Where this team's runs and checkpoints live: ``postgresql://USER@HOST:PORT/DB`` instead of SQLite in
    ``$HUDDLE_HOME``; ``$HUDDLE_STORE_URL`` wins when set. No password: use ``$PGPASSWORD`` or ``~/.pgpass``."""
    providers: dict[str, ProviderLimits] = Field(default_factory=dict)
    """Per-provider limits (``openai: {max_concurrency: 8, requests_per_minute: 500}``), shared by every run in
    the process; the provider is litellm's name for it (``openai``, ``anthropic``, ``ollama``, ``local``, …)."""

    @model_validator(mode="after")
    def _check_bus_url(self) -> Defaults:
        if self.bus_url is not None and not _BUS_URL.fullmatch(self.bus_url):  # the URL is never echoed: a password?
            raise ValueError("bus_url: expected redis://HOST:PORT/DB or rediss://HOST:PORT/DB (and optionally "
                             "?namespace=NAME), without a password: the spec is stored with every run, so set "
                             "$HUDDLE_BUS_PASSWORD")
        if self.store_url is not None and not _STORE_URL.fullmatch(self.store_url):  # never echoed: a password?
            raise ValueError("store_url: expected postgresql://USER@HOST:PORT/DB without a password: the spec is "
                             "stored with every run, so set $PGPASSWORD, use ~/.pgpass or put the URL in "
                             "$HUDDLE_STORE_URL")
        if self.api_base and self.api_key_env and is_provider_key_name(self.api_key_env):
            raise ValueError(f"api_key_env: {self.api_key_env} is a provider's own key, and api_base would send it "
                             f"to {redact(self.api_base)}; put the key for that host in a variable of its own "
                             "(export MY_GATEWAY_KEY=...) and name that one")
        return self


class RoleLimits(_Model):
    """Per-role overrides of the defaults."""

    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=32768)
    timeout_s: float | None = Field(None, gt=0)


class Example(_Model):
    """A worked example the role's model sees before the task (few-shot): small models follow one closely."""

    task: str = Field(min_length=1)
    """A task like the ones the role gets."""
    reply: str = Field(min_length=1)
    """The reply the role should give to it (for a coder: a fenced code block)."""


class RoleSpec(_Model):
    """One agent of the team.

    Example (a custom kind: a tester that reviews like a critic, with its own persona):
        >>> tester = RoleSpec(name="tester", kind="tester", acts_as="critic", instructions="Judge by the tests.")
        >>> tester.behaviour, tester.builtin
        ('critic', False)
    """

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
    """Unique name; also its node in the graph and its key in a script."""
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    """A built-in kind (``planner``, ``coder``, ``critic``, ``orchestrator``) or a custom kind of your own."""
    acts_as: RoleKind | None = None
    """For a custom kind: the built-in behaviour it uses (its persona comes from ``instructions``)."""
    model: str | None = None
    """Model for this role; the team default when unset."""
    instructions: str = ""
    """Extra persona or instructions appended to the role's prompt."""
    examples: list[Example] = Field(default_factory=list, max_length=8)
    """Worked examples, shown to the model as earlier turns of the conversation before the real task."""
    writes_tests: bool = True
    """For a coder: write a ``test_`` function from the task's text (its examples, the cases it names) with
    the code; it runs with the code in the sandbox, and counts as evidence after the task's own tests."""
    tools: list[ToolRef] = Field(default_factory=list)
    """Tools the role may call: ``memory_search`` (search the memory with its own query), typed Python
    functions (``{python: "package.module:function"}``) and MCP servers' tools (``{mcp: SERVER, allow: [...]}``)."""
    max_tool_calls: int = Field(4, ge=0, le=50)
    """Tool calls the role may make in one turn before it must give its own reply."""
    tool_choice: Literal["auto", "required"] = "auto"
    """``required``: the role's first reply of a turn must be a tool call (a small model that rarely chooses to
    call one still does); ``auto``: the model decides."""
    limits: RoleLimits = Field(default_factory=RoleLimits)
    budget: Budget | None = None
    """The most this role may spend in the run (all its branches together); the run's budget still applies."""
    memory: RoleMemory = Field(default_factory=RoleMemory)
    """Read and write scopes in the shared memory."""

    @field_validator("tools", mode="before")
    @classmethod
    def _check_tool_entries(cls, value: Any) -> Any:
        for i, entry in enumerate(value if isinstance(value, list) else []):
            if isinstance(entry, str) and entry != "memory_search" or not isinstance(entry, (str, dict, BaseModel)):
                raise ValueError(f"[{i}]: unknown tool {entry!r}; a role's tools are memory_search, "
                                 '{python: "package.module:function"} or {mcp: SERVER, allow: [...]}')
            if isinstance(entry, dict) and not {"python", "mcp"} & set(entry):
                raise ValueError(f"[{i}]: a tool entry needs python: package.module:function or mcp: SERVER, "
                                 f"got the keys {', '.join(map(str, entry)) or 'none'}")
        return value

    @model_validator(mode="after")
    def _check_kind(self) -> RoleSpec:
        kinds = ", ".join(ROLE_KINDS)
        if self.kind in ROLE_KINDS and self.acts_as not in (None, self.kind):
            raise ValueError(f"acts_as: a built-in kind acts as itself; remove acts_as or give the role a custom "
                             f"kind (got kind {self.kind!r}, acts_as {self.acts_as!r})")
        if self.kind not in ROLE_KINDS and self.acts_as is None:
            raise ValueError(f"kind: {self.kind!r} is not a built-in kind ({kinds}); for a custom kind of your "
                             f"own, add acts_as: one of {kinds}")
        return self

    @property
    def behaviour(self) -> str:
        """The built-in kind whose behaviour (function and prompt) the role uses."""
        return self.acts_as or self.kind

    @property
    def builtin(self) -> bool:
        """Whether the role's kind is one of the built-in ones."""
        return self.kind in ROLE_KINDS

    def reads(self) -> tuple[str, ...]:
        """Collections this role reads: its spec's, or its behaviour's default."""
        return tuple(self.memory.read) if self.memory.read is not None else DEFAULT_READ.get(self.behaviour, ())

    def writes(self) -> tuple[str, ...]:
        """Collections this role may write: its spec's, or its behaviour's default."""
        return tuple(self.memory.write) if self.memory.write is not None else DEFAULT_WRITE.get(self.behaviour, ())


class TeamSpec(_Model):
    """A team: its roles, how they take turns, and their defaults."""

    version: Literal[1] = SPEC_VERSION
    """Spec format version; old versions keep loading."""
    name: str = Field(min_length=1)
    description: str = ""
    roles: list[RoleSpec] = Field(min_length=1)
    flow: Flow = Field(default_factory=Flow)
    defaults: Defaults = Field(default_factory=Defaults)
    memory: MemorySpec = Field(default_factory=MemorySpec)
    """The shared vector memory (retrieval and reflection)."""
    sandbox: SandboxSpec = Field(default_factory=SandboxSpec)
    """Where and how the coder's code runs (limits, network), or ``enabled: false`` to never run it."""
    mcp_servers: dict[str, McpServer] = Field(default_factory=dict)
    """MCP servers the roles may take tools from, by name (``{mcp: NAME}`` in a role's ``tools``)."""
    budget: Budget | None = None
    """The most a run of the team may spend (tokens, usd, seconds, model_calls); parallel branches share it."""
    approval: list[ApprovalPoint | ToolApproval] = Field(default_factory=list)
    """Where the run stops for a person to approve, edit or reject: ``after_plan``, ``before_execution``,
    ``before_final``, and ``{tools: [NAME, ...]}`` before any call of those tools (``approval: {tools: [...]}``
    is the same as a list holding only that)."""

    @field_validator("approval", mode="before")
    @classmethod
    def _check_approval_entries(cls, value: Any) -> Any:
        points = ", ".join(repr(p) for p in APPROVAL_POINTS)
        for i, entry in enumerate(value if isinstance(value, list) else []):
            if not (entry in APPROVAL_POINTS or isinstance(entry, (dict, ToolApproval))):
                raise ValueError(f"[{i}]: expected {points} or {{tools: [NAME, ...]}}, got {entry!r}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _approval_mapping(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("approval"), dict):
            found = dict(data["approval"])
            points = found.pop("points", []) or []
            data = {**data, "approval": [*points, found] if found else list(points)}
        return data

    @model_validator(mode="after")
    def _check_references(self) -> TeamSpec:
        problems: list[str] = []
        seen: dict[str, int] = {}
        for i, role in enumerate(self.roles):
            if role.name in seen:
                problems.append(
                    f"roles[{i}].name: duplicate role name {role.name!r} "
                    f"(also roles[{seen[role.name]}]); names must be unique"
                )
            seen.setdefault(role.name, i)
        orchestrators = [r.name for r in self.roles if r.behaviour == "orchestrator"]
        if len(orchestrators) > 1:
            problems.append(f"roles: at most one orchestrator, got {orchestrators}")
        if self.workers() == []:
            problems.append("roles: expected at least one role that is not an orchestrator")
        names = ", ".join(sorted(seen))
        for i, edge in enumerate(self.flow.edges):
            for attr, key in (("source", "from"), ("target", "to")):
                value = getattr(edge, attr)
                if value not in seen:
                    problems.append(
                        f"flow.edges[{i}].{key}: no role named {value!r}; expected one of: {names}"
                    )
        if self.flow.entry is not None and self.flow.entry not in seen:
            problems.append(f"flow.entry: no role named {self.flow.entry!r}; expected one of: {names}")
        problems += _tool_problems(self)
        if not problems:
            problems += flow_problems(self)
        problems += [f"{path}: looks like a secret (an API key, a token or a URL with a password); a team file is "
                     "shared and stored with every run, so keep the secret in an environment variable (for a "
                     "key: name it in defaults.api_key_env)" for path in secret_fields(self.model_dump(
                         mode="json", by_alias=True, exclude_defaults=True))]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def approval_points(self) -> list[str]:
        """The approval points of the flow (``after_plan``, ``before_execution``, ``before_final``), in order."""
        return [p for p in self.approval if isinstance(p, str)]

    def approved_tools(self) -> set[str]:
        """Names of the tools whose calls wait for a person's approval."""
        return {name for p in self.approval if isinstance(p, ToolApproval) for name in p.tools}

    def role(self, name: str) -> RoleSpec:
        """Return the role called ``name``."""
        for role in self.roles:
            if role.name == name:
                return role
        raise KeyError(name)

    def memory_namespace(self) -> str:
        """The name this team's memory is kept under."""
        return self.memory.namespace or self.name

    def workers(self) -> list[RoleSpec]:
        """Roles that do the work, i.e. all but the orchestrator."""
        return [r for r in self.roles if r.behaviour != "orchestrator"]

    def orchestrator(self) -> RoleSpec | None:
        """The orchestrator role, if the team has one."""
        return next((r for r in self.roles if r.behaviour == "orchestrator"), None)

    def judge(self) -> RoleSpec | None:
        """cross_team: the role that judges the sub-teams (``flow.judge``, or the one critic outside them)."""
        if self.flow.judge is not None:
            return next((r for r in self.roles if r.name == self.flow.judge), None)
        members = {name for team in self.flow.teams for name in team.roles}
        critics = [r for r in self.roles if r.behaviour == "critic" and r.name not in members]
        return critics[0] if len(critics) == 1 else None

    def entry(self) -> str:
        """The first worker to speak."""
        return self.flow.entry or self.workers()[0].name

    def successor(self, name: str) -> str | None:
        """The default next speaker after ``name`` (first edge from it)."""
        return next((e.target for e in self.flow.edges if e.source == name), None)

    def model_for(self, name: str, override: str | None = None) -> str:
        """The model string role ``name`` uses, ``override`` winning."""
        return override or self.role(name).model or self.defaults.model


def _tool_problems(spec: TeamSpec) -> list[str]:
    """Roles' tools that name a server the team does not list, or list one twice."""
    problems: list[str] = []
    servers = ", ".join(sorted(spec.mcp_servers)) or "none: add it under mcp_servers"
    for i, role in enumerate(spec.roles):
        seen: set[str] = set()
        for j, tool in enumerate(role.tools):
            key = tool.mcp if isinstance(tool, McpTools) else tool.python if isinstance(tool, PythonTool) else tool
            if key in seen:
                problems.append(f"roles[{i}].tools[{j}]: {key!r} is listed twice; list it once")
            seen.add(key)
            if isinstance(tool, McpTools) and tool.mcp not in spec.mcp_servers:
                problems.append(f"roles[{i}].tools[{j}].mcp: no MCP server named {tool.mcp!r} in mcp_servers "
                                f"(the team has {servers})")
    return problems
