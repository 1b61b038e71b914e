"""The Python API: build, run and inspect teams from code and notebooks.

Three names carry it: :class:`Role` (builders for the roles of a team),
:class:`Team` (a validated team spec you can run) and :class:`Run` (what a run
published). Everything goes through the same runner, run log and memory as the
command line and the studio.

Example:
    >>> from studio import Team, Role
    >>> team = Team("duo", roles=[Role.coder(), Role.critic()], flow=[("coder", "critic"), ("critic", "coder")])
    >>> [(r.name, r.kind) for r in team.roles], team.spec.flow.edges[0].target
    ([('coder', 'coder'), ('critic', 'critic')], 'critic')
    >>> run = team.run("Write add(a, b)", model="scripted:examples/scripts/duo.yaml")  # doctest: +SKIP
    >>> run.final.approved  # doctest: +SKIP
    True
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from studio.api._live import drive
from studio.api._tools import approval_entries, role_tools, server_specs
from studio.api.run import Run, as_budget
from studio.messages import Message
from studio.spec import Budget, RoleSpec, SpecError, TeamSpec, dump_spec, load_spec, parse_spec

__all__ = ["Role", "Run", "Team", "TeamMemory"]

Edge = tuple[str, str]


class Role:
    """Builders for the roles of a team; each returns a :class:`~studio.spec.RoleSpec`.

    Settings are the role's spec fields: ``model``, ``instructions``, ``tools``, ``max_tool_calls``,
    ``memory`` (``{"read": [...], "write": [...]}``), ``limits`` and ``budget`` (``{"tokens": 5000}``: the most
    this role may spend in a run). ``tools`` takes Python functions
    themselves, ``"package.module:function"``, ``"memory_search"``, :class:`~studio.spec.PythonTool`,
    :class:`~studio.spec.McpTools` or their dicts (``{"mcp": "notes", "allow": ["search"]}``).

    Example:
        >>> Role.coder(instructions="Use the standard library.").instructions
        'Use the standard library.'
        >>> Role.custom("tester", acts_as="critic").behaviour
        'critic'
        >>> Role.custom("researcher", acts_as="coder", tools=["statistics:mean", "memory_search"]).tools[0].python
        'statistics:mean'
        >>> Role.critic(budget={"model_calls": 3}).budget.model_calls
        3

    Raises:
        TypeError: a ``tools`` entry that is never a tool, naming the role and the entry.
        ValueError: (a :class:`~studio.spec.SpecError`) a bad field or tool, naming the role and what to fix.
    """

    @staticmethod
    def _make(name: str, kind: str, settings: dict[str, Any]) -> RoleSpec:
        if settings.get("tools") is not None:
            settings = {**settings, "tools": role_tools(name, settings["tools"])}
        data = {"name": name, "kind": kind, **settings}
        try:
            return RoleSpec.model_validate(data)
        except ValueError as exc:  # a pydantic ValidationError: name the role and each bad field
            errors: list[dict[str, Any]] = getattr(exc, "errors", lambda: [])()
            problems = [f"{'.'.join(map(str, e['loc'])) or 'role'}: {str(e['msg']).removeprefix('Value error, ')}"
                        for e in errors]
            raise SpecError(f"role {name!r}", problems or [str(exc)]) from None

    @staticmethod
    def planner(name: str = "planner", **settings: Any) -> RoleSpec:
        """A planner: breaks the task into steps."""
        return Role._make(name, "planner", settings)

    @staticmethod
    def coder(name: str = "coder", **settings: Any) -> RoleSpec:
        """A coder: writes code, runs it in the sandbox and fixes it from the result."""
        return Role._make(name, "coder", settings)

    @staticmethod
    def critic(name: str = "critic", **settings: Any) -> RoleSpec:
        """A critic: reviews the code with its execution result, approves or asks for changes."""
        return Role._make(name, "critic", settings)

    @staticmethod
    def test_designer(name: str = "test_designer", **settings: Any) -> RoleSpec:
        """A test designer: writes asserts from the task's text before any code (evidence, weighed by agreement)."""
        return Role._make(name, "test_designer", settings)

    @staticmethod
    def orchestrator(name: str = "orchestrator", **settings: Any) -> RoleSpec:
        """An orchestrator: keeps a progress ledger and picks who speaks next."""
        return Role._make(name, "orchestrator", settings)

    @staticmethod
    def custom(name: str, *, acts_as: str, kind: str | None = None, **settings: Any) -> RoleSpec:
        """A role of a kind of your own (``kind`` defaults to ``name``) with a built-in behaviour."""
        return Role._make(name, kind or name.lower().replace("-", "_"), {"acts_as": acts_as, **settings})


def _role(role: Any) -> Any:
    """A role given as a dict, its ``tools`` taken as :class:`Role` takes them (functions, strings, models)."""
    if not isinstance(role, dict) or not isinstance(role.get("tools"), list):
        return role
    tools = role_tools(str(role.get("name", "?")), role["tools"])
    return {**role, "tools": [t if isinstance(t, str) else t.model_dump(exclude_defaults=True) for t in tools]}


def _flow(flow: dict[str, Any] | Sequence[Edge] | None) -> dict[str, Any]:
    if flow is None:
        return {}
    if isinstance(flow, dict):
        data = dict(flow)
        data["edges"] = [_edge(e) for e in data.get("edges", [])]
        return data
    return {"edges": [_edge(e) for e in flow]}


def _edge(edge: Any) -> dict[str, str]:
    if isinstance(edge, dict):
        return edge
    source, target = edge
    return {"from": source, "to": target}


class Team:
    """A team: validated on creation, runnable, exportable, and drawn in Jupyter.

    Args:
        name: the team's name.
        roles: its roles (from :class:`Role`, or dicts in the spec's shape).
        flow: the routes as ``[(from, to), ...]``, or the spec's ``flow`` mapping
            (``entry``, ``edges``, ``max_rounds``).
        description, defaults, memory, sandbox: the spec's fields of those names.
        approval: the approval points, and ``{"tools": [NAME, ...]}`` (or a
            :class:`~studio.spec.ToolApproval`) to approve calls of those tools.
        budget: the most a run of the team may spend: a :class:`~studio.spec.Budget` or its fields as a dict
            (``{"tokens": 20000, "usd": 0.5, "seconds": 60, "model_calls": 40}``); see ``docs/budgets.md``.
        mcp_servers: MCP servers the roles take tools from, by name: a
            :class:`~studio.spec.McpServer` or its fields as a dict (``{"command": "python", "args": [...]}``
            or ``{"url": "http://127.0.0.1:8000/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}}``).
        home: state folder for runs and memory (``$HUDDLE_HOME`` by default).

    Raises:
        SpecError: naming each bad field and what was expected.
    """

    def __init__(self, name: str, roles: Iterable[RoleSpec | dict[str, Any]], flow: Any = None, *,
                 description: str = "", defaults: dict[str, Any] | None = None, memory: dict[str, Any] | None = None,
                 sandbox: dict[str, Any] | None = None, approval: list[Any] | dict[str, Any] | None = None,
                 mcp_servers: dict[str, Any] | None = None, home: str | Path | None = None,
                 budget: Budget | dict[str, Any] | None = None):
        data: dict[str, Any] = {
            "name": name, "description": description,
            "roles": [r.model_dump(by_alias=True, exclude_defaults=True) if isinstance(r, RoleSpec) else _role(r)
                      for r in roles],
            "flow": _flow(flow), "defaults": defaults or {}, "memory": memory or {}, "sandbox": sandbox or {},
            "approval": approval_entries(approval),
            "mcp_servers": {name: server.model_dump(exclude_defaults=True)
                            for name, server in server_specs(mcp_servers).items()},
            **({"budget": budget.model_dump(exclude_none=True) if isinstance(budget, Budget) else budget}
               if budget is not None else {}),
        }
        self.spec = parse_spec(data, f"team {name!r}")
        self.home = home

    @classmethod
    def from_spec(cls, spec: TeamSpec, *, home: str | Path | None = None) -> Team:
        """The team of an existing spec."""
        team = cls.__new__(cls)
        team.spec, team.home = spec, home
        return team

    @classmethod
    def load(cls, path: str | Path, *, home: str | Path | None = None) -> Team:
        """Load a team file (YAML or JSON).

        Raises:
            SpecError: the file is missing, not YAML/JSON, or not a valid team.
        """
        return cls.from_spec(load_spec(path), home=home)

    @classmethod
    def from_description(cls, text: str, model: str | None = None, *, home: str | Path | None = None) -> Team:
        """A team drafted from ``text`` by ``model`` (the embedded one by default); it always validates.

        The draft is repaired against the description (``studio.teamgen.generate_team`` returns the notes too).

        Raises:
            ValueError: ``text`` is empty.
            ModelConfigError: the model cannot be used (unknown, missing key or file).
        """
        from studio.teamgen import generate_team

        return cls.from_spec(generate_team(text, model).spec, home=home)

    @property
    def name(self) -> str:
        """The team's name, from its spec."""
        return self.spec.name

    @property
    def roles(self) -> list[RoleSpec]:
        """The team's roles, in spec order (a copy of the list)."""
        return list(self.spec.roles)

    def save(self, path: str | Path) -> Path:
        """Write the team as YAML (``.json``: JSON) and return the path."""
        path = Path(path)
        path.write_text(dump_spec(self.spec, "json" if path.suffix == ".json" else "yaml"), encoding="utf-8")
        return path

    def run(self, task: str, model: str | None = None, *, display: Any = "auto",
            on_message: Callable[[Message], None] | None = None, auto_approve: bool = False,
            on_token: Callable[[str, str], None] | None = None,
            budget: Budget | dict[str, Any] | None = None, otel: bool | None = None) -> Run:
        """Run the team on ``task`` until it ends, waits for approval or reaches a budget; returns the :class:`Run`.

        A team with ``approval`` points stops at each with ``status == "waiting"``; answer with
        :meth:`Run.approve` or :meth:`Run.reject` (from this process or a later one: ``Run.load(run_id)``).
        A run that reaches a budget stops before the model call that could overrun it, with
        ``status == "budget"`` and a final message carrying the best work so far; :meth:`Run.resume` with a
        raised budget goes on.

        Args:
            task: what to do.
            model: a model for every role (litellm string, ``local/smollm2`` or ``scripted:PATH``).
            display: ``"auto"`` shows the messages live in a Jupyter cell (nothing outside one); ``None``
                or ``False`` never; or a function like IPython's ``display`` that returns a handle.
            on_message: also called with each message once it is in the run log.
            auto_approve: approve every approval point instead of stopping.
            on_token: also called as ``on_token(role, piece)`` with each model's reply as it streams in (``role``
                is the role's name, or ``name.branch`` on a parallel branch; the live display shows the same
                text); a reply that cannot stream gives one ``on_token(role, "")`` as it starts.
            budget: limits for this run, set over the team's ``budget`` (each one given replaces the team's): a
                :class:`~studio.spec.Budget` or a dict of its fields (``tokens``, ``usd``, ``seconds``,
                ``model_calls``).
            otel: ``True`` sends the run's OpenTelemetry spans over OTLP/HTTP (to ``$OTEL_EXPORTER_OTLP_ENDPOINT``,
                else ``http://localhost:4318``), ``False`` never; ``None``: when that variable is set.

        Raises:
            ModelConfigError: a model cannot be used (unknown, missing key or file); a ``usd`` budget on a model
                with no known price (a ``BudgetConfigError``, naming the model).
            SpecError: a bad ``budget`` field, naming it.

        Example (it runs in docs/budgets.md):
            >>> from studio import Budget
            >>> team = Team.load("examples/teams/dev_team.yaml")  # doctest: +SKIP
            >>> run = team.run("Write fizzbuzz", model="scripted:examples/scripts/dev_team.yaml",
            ...                budget=Budget(tokens=800))  # doctest: +SKIP
            >>> run.status, run.final.stop_reason  # doctest: +SKIP
            ('budget', 'budget')
        """
        from studio.llm.budget import with_budget
        from studio.runner import run_team
        from studio.telemetry import tracing

        limits = as_budget(budget, f"team {self.name!r}: run(budget=...)")
        with tracing(otel):
            run = self._drive(lambda published, turn, token: run_team(self.spec, task, model=model, home=self.home,
                                                                       on_message=published, on_turn=turn,
                                                                       on_token=token, budget=limits),
                              display, on_message, on_token, limits)
            run.spec = with_budget(self.spec, limits)  # the run's own limits, as its run log keeps them
            while auto_approve and run.status == "waiting":
                run = run.approve(display=display, on_message=on_message, on_token=on_token, budget=limits)
        return run

    def _drive(self, start: Callable[..., Any], display: Any, on_message: Callable[[Message], None] | None,
               on_token: Callable[[str, str], None] | None, budget: Budget | None = None) -> Run:
        """Run ``start(on_message, on_turn, on_token)`` with the live view, and wrap its result as a :class:`Run`."""
        result = drive(self.spec, start, display, on_message, on_token, budget)
        return Run(result.run_id, result.status, result.messages, result.error, spec=self.spec, home=self.home)

    async def arun(self, task: str, model: str | None = None, **options: Any) -> Run:
        """:meth:`run`, awaitable: the run works on a thread so the event loop stays free."""
        return await asyncio.to_thread(self.run, task, model, **options)

    def run_many(self, tasks: Iterable[str], model: str | None = None, *, ray_address: str | None = None,
                 progress: bool = True, **options: Any) -> list[Run]:
        """Run the team once per task, the runs at once as Ray tasks; returns the :class:`Run` of each, in order.

        Every run lands in this team's run log (under the same run id it had on its worker) before this
        returns, so ``Run.load(run_id)`` finds it. A batch has nobody to approve: approval points are off.
        See :mod:`studio.batch` for limits, scripted models and memory.

        Args:
            tasks: one run each.
            model: a model for every role, as for :meth:`run`.
            ray_address: a Ray cluster (``auto``, ``ray://head:10001``); a local Ray instance when ``None``
                (a process already connected to Ray keeps its connection).
            progress: show a progress bar on stderr.
            options: ``workers`` (processes) and ``runs_per_worker`` (runs each works on at once).

        Raises:
            RayUnavailable: Ray cannot be reached at ``ray_address``.
            ModelConfigError: a model cannot be used (unknown, missing key or file), before anything runs.
        """
        from studio.batch import run_many

        ids = run_many(self.spec, tasks, model, home=self.home, address=ray_address, progress=progress, **options)
        return [Run.load(run_id, home=self.home) for run_id in ids]

    def optimize(self, tasks: Any, budget: Any, *, out: str | Path | None = None,
                 **options: Any) -> tuple[Team, Any]:
        """A better team for ``tasks``, searched over this team's spec (see :mod:`studio.optimize`).

        Args:
            tasks: a task file (``.jsonl``), or tasks (``EvalTask`` or dicts with id, prompt, entry_point, tests).
            budget: tokens the search may spend, or ``{"tokens": N, "hours": H}``.
            out: the folder for the journal and report (a stopped search resumes from it).
            options: ``model``, ``split``, ``seed``, ``prefer``, ``ray``, ``compare`` (see ``optimize``).

        Returns:
            The chosen team and the :class:`~studio.optimize.OptimizeReport` (its held-out scores, front, diff).
        """
        from studio.api._optimize import optimize_team

        spec, report = optimize_team(self.spec, tasks, budget, out, self.home, options)
        return Team.from_spec(spec, home=self.home), report

    @property
    def memory(self) -> TeamMemory:
        """The team's shared memory (opened on first use).

        Raises:
            SpecError: the team has ``memory.enabled: false``.
        """
        return TeamMemory(self)

    def export_script(self) -> str:
        """The team as a standalone, readable Python script (see :mod:`studio.export`)."""
        from studio.export import to_script

        return to_script(self.spec)

    def export_notebook(self) -> dict[str, Any]:
        """The team as a Jupyter notebook (nbformat 4, as a dict)."""
        from studio.export import to_notebook

        return to_notebook(self.spec)

    def studio(self, *, port: int | None = None, host: str = "127.0.0.1"):
        """Open the Streamlit studio on this very team; returns the server (``.url``, ``.stop()``)."""
        from studio.api.notebook import open_studio

        return open_studio(self.spec, port=port, host=host, home=self.home)

    def _repr_html_(self) -> str:
        from studio.api.notebook import team_html

        return team_html(self.spec)

    def __repr__(self) -> str:
        return f"Team({self.name!r}, roles={[r.name for r in self.spec.roles]})"


class TeamMemory:
    """A team's shared memory: ingest files, search, count (see :mod:`memory`)."""

    def __init__(self, team: Team):
        self._team = team

    def _store(self):
        from studio.runner import open_team_memory

        store = open_team_memory(self._team.spec, self._team.home)
        if store is None:
            raise SpecError(f"team {self._team.name!r}", ["memory.enabled: the team's memory is turned off"])
        return store

    def ingest(self, *paths: str | Path, **options: Any):
        """Read files and folders into the team's knowledge; returns the ingest report."""
        from memory.ingestion import ingest

        return ingest(self._store(), paths, **options)

    def search(self, query: str, k: int = 5, **options: Any):
        """The ``k`` items most like ``query``, best first, with their scores and provenance."""
        return self._store().search(query, k, **options)

    def count(self) -> dict[str, int]:
        """Items per collection."""
        return self._store().count()
