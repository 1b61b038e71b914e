"""A run as the Python API shows it: its messages, result and totals, and the answers to its approval points.

Example:
    >>> run = Run("r1", "done", [])
    >>> run.final is None, run.pending is None
    (True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from studio.api._live import drive
from studio.messages import Approval, Final, Message, Usage
from studio.rundiff import RunDiff, diff_runs
from studio.spec import Budget, SpecError, TeamSpec, parse_spec

__all__ = ["Run", "as_budget"]


def as_budget(budget: Budget | dict[str, Any] | None, source: str = "budget=") -> Budget | None:
    """A budget given as a :class:`~studio.spec.Budget` or as its fields in a dict (``None``: none).

    ``source`` names where it was given, in the error.

    Raises:
        SpecError: a field that is not a budget's, or a limit that is not above zero, naming it.

    Example:
        >>> as_budget({"tokens": 20000}).tokens
        20000
        >>> try:
        ...     as_budget({"tokenz": 5})
        ... except SpecError as exc:
        ...     print(exc.problems)
        ['budget.tokenz: unknown field; use tokens, usd, seconds or model_calls']
    """
    if budget is None or isinstance(budget, Budget):
        return budget
    try:
        return Budget.model_validate(budget)
    except ValidationError as exc:
        problems = [f"budget.{'.'.join(map(str, e['loc']))}: "
                    + ("unknown field; use tokens, usd, seconds or model_calls" if e["type"] == "extra_forbidden"
                       else f"{e['msg'].lower()} (got {e['input']!r})") for e in exc.errors()]
        raise SpecError(source, problems) from None


class Run:
    """What one run published, in order: its messages, final result and totals.

    Its ``status`` is ``done``, ``unsolved`` (it ended, but its code fails the task's tests), ``failed``,
    ``waiting`` (for a person's approval) or ``budget`` (a budget stopped it before a call that could overrun
    it; ``final`` carries the best work so far: go on with :meth:`resume` and a raised budget).

    Example:
        >>> run = Run("r1", "done", [])
        >>> run.final is None, run.usage.calls
        (True, 0)
    """

    def __init__(self, run_id: str, status: str, messages: list[Message], error: str | None = None, *,
                 spec: TeamSpec | None = None, home: str | Path | None = None):
        self.run_id, self.status, self.messages, self.error = run_id, status, list(messages), error
        self.spec = spec
        """The team that ran (``None`` when unknown)."""
        self.home = home

    @classmethod
    def load(cls, run_id: str, *, home: str | Path | None = None) -> Run:
        """A run from the run log, by id or unique id prefix.

        Raises:
            RunNotFound: no such run (or the prefix is ambiguous).
        """
        from studio.runner import RunNotFound, shared_store

        log = shared_store(home)
        info = log.get_run(run_id)
        if info is None:
            raise RunNotFound(f"no run {run_id!r} in {log.path} (or the prefix is ambiguous)")
        try:
            spec = parse_spec(info.spec, f"run {info.run_id}")
        except SpecError:  # a run log written by another version: the messages still load
            spec = None
        return cls(info.run_id, info.status, log.messages(info.run_id), info.error, spec=spec, home=home)

    @property
    def pending(self) -> Approval | None:
        """What a waiting run asks a person to approve: ``.point`` and the plan or code as ``.content``."""
        from pipelines import pending_approval

        return pending_approval(self.messages) if self.status == "waiting" else None

    def approve(self, edit: str | None = None, **options: Any) -> Run:
        """Approve what the run waits for (``edit``: with this plan or code instead) and go on.

        ``options`` are ``display``, ``on_message`` and ``on_token``, as for :meth:`Team.run`, and ``budget``
        (limits over the team's, as for :meth:`resume`).

        Returns:
            The run as it now stands: done, unsolved (its code fails the task's tests), failed, or waiting at
            the next approval point.

        Raises:
            RunNotWaiting: the run is not waiting for approval.
        """
        from pipelines import ApprovalDecision

        return self._answer(ApprovalDecision.edit(edit) if edit else ApprovalDecision.approve(), **options)

    def resume(self, budget: Budget | dict[str, Any] | None = None, **options: Any) -> Run:
        """Go on with a run a budget stopped (or one that was killed or failed), from its last checkpoint.

        Args:
            budget: limits set over the team's ``budget`` (each one given replaces the team's); what the run
                spent before counts against them. Without a raised one, a run a budget stopped stops again.
            options: ``display``, ``on_message`` and ``on_token``, as for :meth:`Team.run`.

        Returns:
            The run as it now stands.

        Raises:
            SpecError: a bad ``budget`` field, naming it.

        Example:
            >>> from studio import Team
            >>> team = Team.load("examples/teams/dev_team.yaml")  # doctest: +SKIP
            >>> run = team.run("Write fizzbuzz", model="scripted:examples/scripts/dev_team.yaml",
            ...                budget={"model_calls": 3})  # doctest: +SKIP
            >>> run.status, run.resume(budget={"model_calls": 20}).status  # doctest: +SKIP
            ('budget', 'done')
        """
        return self._answer(None, budget=budget, **options)

    def reject(self, feedback: str, **options: Any) -> Run:
        """Reject what the run waits for, saying why (the team reads it and tries again), and go on.

        ``options`` are ``display``, ``on_message``, ``on_token`` and ``budget``, as for :meth:`approve`.

        Raises:
            RunNotWaiting: the run is not waiting for approval.
            ValueError: no feedback was given.
        """
        from pipelines import ApprovalDecision

        if not feedback or not feedback.strip():
            raise ValueError("reject(feedback): say why, so the team knows what to change")
        return self._answer(ApprovalDecision.reject(feedback), **options)

    def _answer(self, decision, *, display: Any = "auto", on_message: Callable[[Message], None] | None = None,
                on_token: Callable[[str, str], None] | None = None,
                budget: Budget | dict[str, Any] | None = None) -> Run:
        from studio.runner import resume_run

        limits = as_budget(budget, f"run {self.run_id[:8]}: budget=")
        if self.spec is None:
            result = resume_run(self.run_id, home=self.home, decision=decision, on_message=on_message,
                                on_token=on_token, budget=limits)
            return Run(result.run_id, result.status, result.messages, result.error, home=self.home)
        def start(published, turn, token):
            return resume_run(self.run_id, home=self.home, decision=decision, on_message=published, on_turn=turn,
                              on_token=token, budget=limits)

        result = drive(self.spec, start, display, on_message, on_token, limits)
        return Run(result.run_id, result.status, result.messages, result.error, spec=self.spec, home=self.home)

    def diff(self, other: Run | str) -> RunDiff:
        """This run (A) aligned with ``other`` (B: a run, or a run id or unique prefix in this run's home).

        Returns:
            The pairs of messages, the first divergence, each role's spend in both and the test outcomes that
            flipped (:class:`studio.rundiff.RunDiff`; ``.as_dict()`` for JSON).

        Raises:
            RunNotFound: ``other`` is an id that is not in the run log (or an ambiguous prefix).

        Example:
            >>> Run("a", "done", []).diff(Run("b", "done", [])).identical
            True
        """
        theirs = other if isinstance(other, Run) else Run.load(other, home=self.home)
        return diff_runs(self.messages, theirs.messages, status_a=self.status, status_b=theirs.status)

    def fork(self, at: str, *, model: str | None = None, changes: dict[str, Any] | None = None,
             display: Any = "auto", on_message: Callable[[Message], None] | None = None,
             on_token: Callable[[str, str], None] | None = None) -> Run:
        """A new run that keeps this one's messages up to ``at`` (served from its cassette), then goes on live.

        Args:
            at: the id (or a unique prefix) of the message to fork at; it is the last one kept.
            model: the model for the rest (this run's by default).
            changes: edits to the team for the rest, as ``{"roles.coder.instructions": "Be brief"}``.
            display: as for :meth:`Team.run`.
            on_message: as for :meth:`Team.run`.
            on_token: as for :meth:`Team.run`.

        Returns:
            The new run; it records this one as its parent (compare them with :meth:`diff`).

        Raises:
            CassetteError: ``at`` is not a message of this run.
            SpecError: a change names nothing in the team, or leaves it invalid.
        """
        from studio.replay import fork_run, parse_sets, recording_of_run

        parent = recording_of_run(self.run_id, self.home)
        spec = parse_sets(parse_spec(parent.spec, parent.source),
                          [f"{path}={value}" for path, value in (changes or {}).items()])

        def start(published, turn, token):
            return fork_run(parent, at, model=model, spec=spec, home=self.home, on_message=published, on_turn=turn,
                            on_token=token)

        result = drive(spec, start, display, on_message, on_token, None)
        return Run(result.run_id, result.status, result.messages, result.error, spec=spec, home=self.home)

    def replay(self, team: TeamSpec | None = None):
        """This run's team again, every call served from its cassette (:func:`studio.replay.replay`).

        ``team``: a changed team (the replay stops where its requests differ; the outcome's ``diverged`` says
        where). Returns a :class:`studio.replay.ReplayOutcome` (``same`` when it is the recording).
        """
        from studio.replay import replay

        return replay(self.run_id, spec=team, home=self.home)

    @property
    def final(self) -> Final | None:
        """The final message, if the run got that far."""
        return next((m for m in reversed(self.messages) if isinstance(m, Final)), None)

    @property
    def usage(self) -> Usage:
        """Tokens, cost, latency and model calls of the whole run."""
        total = Usage()
        for message in self.messages:
            total = total + message.usage
        return total

    def to_dataframe(self):
        """One row per message: sender, kind, content, tokens, cost, latency, time (a pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame([{
            "sender": m.sender, "kind": m.kind, "content": m.content, "prompt_tokens": m.usage.prompt_tokens,
            "completion_tokens": m.usage.completion_tokens, "cost_usd": m.usage.cost_usd,
            "latency_ms": m.usage.latency_ms, "created_at": m.created_at, "id": m.id,
        } for m in self.messages], columns=["sender", "kind", "content", "prompt_tokens", "completion_tokens",
                                            "cost_usd", "latency_ms", "created_at", "id"])

    def _repr_html_(self) -> str:
        from studio.api.notebook import run_html

        return run_html(self)

    def __repr__(self) -> str:
        return f"Run({self.run_id[:8]!r}, {self.status!r}, {len(self.messages)} messages)"
