"""Run a team: bus, gateway and checkpointed graph wired together, and resumed after a crash.

Example:
    >>> from studio.spec import load_spec
    >>> result = run_team(load_spec("examples/teams/dev_team.yaml"), "Add two numbers",
    ...                   model="scripted:examples/scripts/dev_team.yaml")  # doctest: +SKIP
    >>> result.status  # doctest: +SKIP
    'done'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from langgraph.types import Command

from memory.reflection import reflect
from memory.store import VectorMemory
from memory.team import role_scopes
from pipelines import (
    BRANCH_NODES,
    ApprovalDecision,
    RunWiring,
    budget_final,
    executing_roles,
    node_update,
    pending_approval,
)
from roles import RoleContext
from roles.act import Journal
from sandbox import Sandbox, SandboxError
from studio._run_state import (
    call_settings,
    compiled_graph,
    open_pool,
    open_team_memory,
    shared_store,
    step_publisher,
)
from studio._tape import Tape
from studio._taped import TapedGateway, TapedMemory, TapedSandbox
from studio.bus import Bus
from studio.bus.sqlite import calls_per_sender
from studio.home import huddle_home
from studio.llm import Gateway, ModelCallError, check_model
from studio.llm.budget import BudgetReached, Meter, Spend, run_meter, unlogged, with_budget
from studio.llm.role_model import RoleModel
from studio.llm.scripted import ScriptExhausted
from studio.messages import Approval, Error, Final, Message, Task, new_id
from studio.redact import redact, redact_data
from studio.spec import Budget, RoleSpec, TeamSpec, parse_spec
from studio.telemetry import run_trace
from studio.tools.toolbox import team_tools

__all__ = ["FINISHED", "ApprovalDecision", "RunNotFound", "RunNotWaiting", "RunResult", "RunStopped", "end_status",
           "huddle_home", "open_team_memory", "pending_approval", "resume_run", "run_meter", "run_team", "shared_store",
           "with_budget"]


class RunNotFound(LookupError):
    """No run with that id in the run log."""


class RunNotWaiting(ValueError):
    """An approval decision for a run that is not waiting for one."""


class RunStopped(Exception):
    """Raised from an ``on_turn`` callback to stop a run before its next model call (the studio's Stop).

    The run is recorded as failed with error type ``stopped``, and can be resumed like any other.
    """


@dataclass
class RunResult:
    """What a run produced."""

    run_id: str
    status: str
    """``done`` (ended with a final message), ``unsolved`` (ended with one, but its code fails the task's
    tests), ``budget`` (stopped before a call that could overrun a budget, with a final carrying the best work
    so far; resume it with a raised budget), ``failed``, or ``waiting`` (for a person's approval)."""
    messages: list[Message] = field(default_factory=list)
    error: str | None = None
    spent: Spend | None = None
    """What this session's model calls spent, as the budget meter counted them (with what the run spent
    before, for a resumed run): the same as the sums of the run log's usage."""

    @property
    def pending(self) -> Approval | None:
        """The approval a waiting run asks for (the plan or code to approve is its ``content``)."""
        return pending_approval(self.messages) if self.status == "waiting" else None

    @property
    def final(self) -> Final | None:
        """The final message, if the run got that far."""
        return next((m for m in reversed(self.messages) if isinstance(m, Final)), None)


FINISHED = frozenset({"done", "unsolved"})
"""Statuses of a run that ended with a final message (resuming it changes nothing)."""


def end_status(messages: list[Message]) -> str:
    """The status of a run that ended: ``unsolved`` when its final's code fails the task's tests, else ``done``."""
    final = next((m for m in reversed(messages) if isinstance(m, Final)), None)
    return "unsolved" if final is not None and final.stop_reason == "unsolved" else "done"


class _Session:
    """One run's wiring: log, bus, gateway, role contexts and the compiled graph."""

    def __init__(self, spec: TeamSpec, run_id: str, home: Path, model: str | None,
                 on_message: Callable[[Message], None] | None, on_turn: Callable[[str], None] | None,
                 gateway: Gateway | None = None, scripted_start: dict[str, int] | None = None,
                 memory: VectorMemory | None = None, strict_tools: bool = False,
                 on_token: Callable[[str, str], None] | None = None, meter: Meter | None = None,
                 tape: Tape | None = None, prefetch: str = ""):
        self.spec, self.run_id, self.model = spec, run_id, model
        self.tape = tape = tape if tape is not None else Tape()  # every run records its calls (its cassette)
        self.on_token = on_token
        self.meter = meter if meter is not None else run_meter(spec, model)
        self.pool = open_pool(spec)
        try:  # the tools first: a team whose tools cannot be set up fails before anything is opened or logged
            kit = team_tools(spec, self.pool, strict=strict_tools)
        except Exception:
            self.close()
            raise
        self.tool_problems = kit.problems
        self.log = shared_store(home, spec.defaults.bus_url, spec.defaults.store_url)
        tape.bind(self.log, run_id)
        if spec.memory.enabled and memory is None and not tape.replaying:  # a replay's searches come from its tape
            memory = open_team_memory(spec, home)
        if memory is not None and prefetch and spec.memory.enabled and spec.memory.top_k and not tape.replaying:
            memory.prefetch(prefetch)  # the roles search for the task first: embedded while the run starts
        self.memory = TapedMemory(memory, tape) if spec.memory.enabled or memory is not None else None
        self.scopes = role_scopes(spec, self.memory, run_id) if self.memory is not None else {}  # type: ignore
        self.bus = Bus(self.log)
        self.trace = run_trace(self.bus.subscribe, run_id, spec.name)  # does nothing unless OpenTelemetry is on
        if tape.fork_after is not None:
            self.bus.subscribe("*", tape.saw)
        if on_message is not None:
            self.bus.subscribe("*", on_message)
        self.gateway = gateway or Gateway(spec.defaults.max_concurrency, scripted_start=scripted_start,
                                          limits=spec.defaults.providers)
        sandbox = TapedSandbox(Sandbox(spec.sandbox, home / "workspaces" / run_id), tape) \
            if spec.sandbox.enabled else None
        runs_code = executing_roles(spec)
        approving = bool(spec.approved_tools())  # a turn paused before a tool call resumes from its journal
        contexts = {r.name: RoleContext(run_id, r, spec, self._model_fn(r, on_turn), self.scopes.get(r.name),
                                        sandbox if r.name in runs_code else None,  # type: ignore[arg-type]
                                        tools=tuple(tape.tool(t) for t in kit.tools[r.name]),
                                        journal=Journal() if approving else None)
                    for r in spec.roles}
        self.contexts = contexts
        reflecting = self.memory is not None and spec.memory.reflect
        self.graph = compiled_graph(spec, home)
        self.saver = self.graph.checkpointer
        self.wiring = RunWiring(run_id, contexts, step_publisher(self.saver, self.bus, run_id),
                                tape.reflect(self._reflect) if reflecting else None,
                                replayed=tape.source.branches if tape.replaying and tape.source else None)
        # Parallel branches run on LangGraph's thread pool: as many threads as the flow runs branches at once.
        self.config = {"configurable": {"thread_id": run_id}, "recursion_limit": 6 * spec.flow.max_rounds + 30,
                       "max_concurrency": spec.flow.max_parallel}

    def close(self) -> None:
        """End the run's MCP sessions (their server processes stop)."""
        if self.pool is not None:
            self.pool.close()

    def report_tool_problems(self) -> None:
        """Publish each MCP server that could not be reached as an error: the run goes on without it."""
        for problem in self.tool_problems:
            self.bus.publish(Error(run_id=self.run_id, sender="system", error_type="tool", content=redact(problem)))

    def replay_paused_turns(self, replays: dict[str, dict]) -> None:
        """Give each role the journal of its turn that paused before a tool call, so it resumes identically."""
        for role, replay in replays.items():
            ctx = self.contexts.get(role)
            if ctx is not None and ctx.journal is not None:
                ctx.journal.replay.update(replay)

    def _model_fn(self, role: RoleSpec, on_turn: Callable[[str], None] | None) -> RoleModel:
        return RoleModel(TapedGateway(self.gateway, self.tape),  # type: ignore[arg-type]
                         self.spec.model_for(role.name, self.model), role.name,
                         call_settings(self.spec, role), on_turn, on_token=self.on_token, meter=self.meter)

    def _reflect(self, transcript: list[Message], status: str, error: str | None) -> list[Message]:
        # Episodes and post-mortems quote the task and the reviews: what memory stores is redacted like the log.
        assert self.memory is not None  # wired only when the team has memory (see __init__)
        return reflect(redact_data(transcript), run_id=self.run_id, memory=self.memory,  # type: ignore[arg-type]
                       scopes=self.scopes, status=status, error=redact(error) if error else error)

    def execute(self, graph_input: dict | Command | None) -> RunResult:
        """Run the graph to the end or to an approval point; a failure is published as a fatal error, never lost."""
        try:
            result = self.trace.run(self._execute, graph_input)  # its spans end and go out with the session
        finally:
            self.close()
        result.spent = self.meter.total
        return result

    def _execute(self, graph_input: dict | Command | None) -> RunResult:
        try:
            # A node's messages commit with its writes, a step's checkpoint with the next step's (LogSaver.steps,
            # which saves what waits on leaving). A resume still adopts logged messages its checkpoint lacks (a
            # Redis bus, or a run from before the one store): see resume_run.
            with self.saver.steps(self.run_id):
                self.graph.invoke(graph_input, self.config, context=self.wiring, durability="sync")
            asked = self._interrupts()
            if asked:
                return self._wait(asked)
        except BudgetReached as exc:
            return self._stop_for_budget(exc)
        except (ModelCallError, ScriptExhausted, SandboxError, RunStopped) as exc:
            kind = {ModelCallError: "provider", ScriptExhausted: "script", SandboxError: "sandbox",
                    RunStopped: "stopped"}
            return self._fail(next(v for k, v in kind.items() if isinstance(exc, k)), str(exc))
        except Exception as exc:  # a bug: record it so the run log tells what happened
            self._fail("internal", f"{type(exc).__name__}: {exc}")
            raise
        messages = self.log.messages(self.run_id)
        status = end_status(messages)
        self.log.set_status(self.run_id, status)
        return RunResult(self.run_id, status, messages)

    def _interrupts(self) -> list:
        snapshot = self.graph.get_state(self.config)
        return [i for task in snapshot.tasks for i in task.interrupts]

    def _wait(self, asked: list) -> RunResult:
        """The run stopped at an approval point: ask for it (once) in the log, and wait."""
        logged = self.log.messages(self.run_id)
        value = asked[0].value
        pending = pending_approval(logged)
        # a turn paused twice (two tool calls to approve) asks again: its first answer is logged when it ends
        if pending is None or (pending.point, pending.content) != (value["point"], redact(value.get("text") or "")):
            self.bus.publish(Approval(run_id=self.run_id, sender="system", point=value["point"],
                                      content=redact(value.get("text") or ""), parent_id=value.get("subject_id")))
        self.log.set_status(self.run_id, "waiting")
        return RunResult(self.run_id, "waiting", self.log.messages(self.run_id))

    def _stop_for_budget(self, reached: BudgetReached) -> RunResult:
        """A budget is reached: end with the best work so far (no reflection: the run is not over), resumable."""
        logged = self.log.messages(self.run_id)
        # the interrupted turn's calls published nothing: the final carries them, so the log's sums stay whole
        self.bus.publish(budget_final(self.run_id, logged, redact(str(reached)), unlogged(self.meter, logged)))
        self.log.set_status(self.run_id, "budget")
        return RunResult(self.run_id, "budget", self.log.messages(self.run_id))

    def _fail(self, error_type: str, text: str) -> RunResult:
        text = redact(text)
        self.bus.publish(Error(run_id=self.run_id, sender="system", error_type=error_type, fatal=True,
                               content=text))
        self.log.set_status(self.run_id, "failed", text)
        # No post-mortem or episode: a provider that is down, a script out of replies, a stop, the sandbox's set-up
        # or a bug says nothing about the task, and would only mislead the next run on it. (A run that ends
        # unsolved, at max_rounds or without a route does reflect: that is the team's own outcome.)
        return RunResult(self.run_id, "failed", self.log.messages(self.run_id), error=text)


def _paused_turns(spec: TeamSpec, home: Path, run_id: str) -> dict[str, dict]:
    """Per role, the journal of a turn paused before a tool call (model replies and tool results so far)."""
    snapshot = compiled_graph(spec, home).get_state({"configurable": {"thread_id": run_id}})
    out: dict[str, dict] = {}
    for task in snapshot.tasks:
        for interrupt in task.interrupts:
            value = interrupt.value if isinstance(interrupt.value, dict) else {}
            if value.get("point") == "before_tool":
                out.setdefault(str(value.get("role", "")), {}).update(value.get("replay") or {})
    return out


def _check_models(spec: TeamSpec, model: str | None) -> None:
    for name in sorted({spec.model_for(r.name, model) for r in spec.roles}):
        check_model(name, api_base=spec.defaults.api_base)


def run_team(spec: TeamSpec, task: str, *, model: str | None = None, home: str | Path | None = None,
             on_message: Callable[[Message], None] | None = None,
             on_turn: Callable[[str], None] | None = None, run_id: str | None = None,
             gateway: Gateway | None = None, memory: VectorMemory | None = None,
             strict_tools: bool = False, on_token: Callable[[str, str], None] | None = None,
             budget: Budget | None = None, tape: Tape | None = None,
             parent: tuple[str, str] | None = None) -> RunResult:
    """Run ``spec`` on ``task`` until a final message, a failure, ``max_rounds`` or a budget.

    Args:
        spec: the team.
        task: what to do.
        model: overrides every role's model (a litellm string, ``local/...`` or ``scripted:PATH``).
        home: state folder; ``$HUDDLE_HOME`` or ``~/.huddle`` by default.
        on_message: called with each message after it is persisted.
        on_turn: called with a role's name when it calls its model.
        run_id: use this id instead of a fresh one.
        on_token: called as ``on_token(role_key, piece)`` with each piece of a model's reply as it streams in,
            from the thread making the call; ``role_key`` is the role's name or ``name.branch``. A reply that
            cannot be streamed (a provider's JSON-constrained one) gives one ``on_token(role_key, "")`` as it starts.
        gateway: the model gateway to use (tests inject one to inspect scripted calls).
        memory: the team memory to use instead of the one the spec describes.
        strict_tools: an MCP server that cannot be reached at the start is an error (the CLI's choice) instead of
            an ``error`` message in a run that goes on without its tools.
        budget: limits set over the team's own ``budget`` (each limit given replaces the team's).
        tape: serves the calls from a recorded run (``studio.replay``); a fresh one records them (as it does
            for :func:`resume_run`, which takes one too).
        parent: ``(run id, message id)`` this run is forked from, recorded with it.

    Raises:
        ModelConfigError: a model cannot be used (unknown, missing key or file).
        BudgetConfigError: a dollar budget on a model with no known price.
        ToolConfigError: a tool cannot be set up (see :func:`studio.tools.toolbox.team_tools`).
        EmbedderError, MemoryStoreError: the team's memory cannot be opened.
    """
    spec = with_budget(spec, budget)
    if tape is None or not tape.replaying:  # a replay calls no model: no key or model file needed
        _check_models(spec, model)
    meter = run_meter(spec, model)
    home = huddle_home(home)
    run_id = run_id or new_id()
    task = redact(task)  # from here on (run log, checkpoints, memory, prompts) the task holds no secret
    session = _Session(spec, run_id, home, model, on_message, on_turn, gateway, memory=memory,
                       strict_tools=strict_tools, on_token=on_token, meter=meter, tape=tape, prefetch=task)
    session.log.create_run(run_id, team=spec.name, task=task, model=model,
                           spec=spec.model_dump(mode="json", by_alias=True))
    if parent is not None:
        session.log.set_parent(run_id, *parent)
    first = Task(run_id=run_id, sender="user", content=task)
    session.bus.publish(first)
    session.report_tool_problems()
    return session.execute({"transcript": [first], "turns": 0})


def resume_run(run_id: str, *, home: str | Path | None = None,
               on_message: Callable[[Message], None] | None = None,
               on_turn: Callable[[str], None] | None = None,
               decision: ApprovalDecision | None = None,
               on_token: Callable[[str, str], None] | None = None, budget: Budget | None = None,
               tape: Tape | None = None) -> RunResult:
    """Continue a run that was killed, failed, or waits for approval, from its last checkpoint.

    Messages already in the log are neither lost nor published twice: a node
    that published but died before its checkpoint is recorded as done. A run
    waiting for approval goes on only with a ``decision`` (from this process or
    any other: the pause lives in the checkpoint); without one it stays waiting. ``on_message``, ``on_turn``
    and ``on_token`` are as for :func:`run_team`. A run stopped by a budget goes on with ``budget`` (limits set
    over the team's; what the run spent before counts against them); without a raised one it stops again.

    Raises:
        RunNotFound: no such run.
        RunNotWaiting: a decision for a run that is not waiting for one.
    """
    home = huddle_home(home)
    log = shared_store(home)
    info = log.get_run(run_id)
    if info is None:
        raise RunNotFound(f"no run {run_id!r} in {log.path}; see `huddle runs list`")
    if decision is not None and info.status != "waiting":
        raise RunNotWaiting(f"run {info.run_id} is {info.status}, not waiting for approval; nothing to approve")
    if info.status in FINISHED:
        return RunResult(info.run_id, info.status, log.messages(info.run_id))
    spec = with_budget(parse_spec(info.spec, f"run {info.run_id}"), budget)
    if tape is None or not tape.replaying:
        _check_models(spec, info.model)
    if budget is not None and not budget.empty:  # raised limits hold for later resumes and show in `runs show`
        log.set_spec(info.run_id, spec.model_dump(mode="json", by_alias=True))
    logged = log.messages(info.run_id)
    meter = run_meter(spec, info.model, logged)
    replays = _paused_turns(spec, home, info.run_id) if info.status == "waiting" and decision is not None else {}
    used = calls_per_sender(logged)
    for role, replay in replays.items():  # a script's replies the paused turn used are not in the log yet
        used[role] = used.get(role, 0) + sum(1 for key in replay if key.startswith("model:"))
    session = _Session(spec, info.run_id, home, info.model, on_message, on_turn, scripted_start=used,
                       on_token=on_token, meter=meter, tape=tape)
    if info.status == "waiting" and session._interrupts():
        if decision is None:
            session.close()
            return RunResult(info.run_id, "waiting", logged)
        log.set_status(info.run_id, "running")
        session.replay_paused_turns(replays)
        session.tape.decided(decision.as_resume())
        return session.execute(Command(resume=decision.as_resume()))
    log.set_status(info.run_id, "running")
    snapshot = session.graph.get_state(session.config)
    if not snapshot.values:  # killed before its first checkpoint, perhaps before its task was logged
        task = next((m for m in logged if isinstance(m, Task)), None) or Task(run_id=info.run_id, sender="user",
                                                                                content=info.task)
        session.bus.publish(task)  # (one already logged is not published again)
        return session.execute({"transcript": [task], "turns": 0})
    known = {m.id for m in snapshot.values["transcript"]}
    pending = snapshot.next[0] if len(snapshot.next) == 1 and snapshot.next[0] not in BRANCH_NODES else None
    orphans: list[Message] = [m for m in logged if m.id not in known and not (isinstance(m, Error) and m.fatal)
               and not isinstance(m, Approval) and not m.branch
               and not (isinstance(m, Final) and m.stop_reason == "budget")]
    if orphans and pending is not None:
        session.graph.update_state(session.config, node_update(spec, pending, orphans, snapshot.values),
                                   as_node=pending)
    return session.execute(None)
