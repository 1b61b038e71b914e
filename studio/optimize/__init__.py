"""``huddle optimize``: a better team for the user's own tasks, searched over the team spec.

The tasks are split (seeded) into a search split and a held-out split. The search
(:mod:`studio.optimize.search`) grades edits of the team (:mod:`studio.optimize.space`) on the search
split only, with successive halving, keeping every grade in a journal so a stopped search
resumes; then the team ``prefer`` picks on the cost–accuracy front (:mod:`studio.optimize.front`)
is graded once on the held-out split, beside the starting team, a single call and the same-budget
``sample-vote`` baseline (:mod:`studio.optimize.report`).

Example:
    >>> from studio.spec import load_spec
    >>> from studio.eval import load_tasks
    >>> report = optimize(load_spec("team.yaml"), load_tasks("tasks.jsonl"), "out")  # doctest: +SKIP
    >>> report.held_out["chosen"].passed  # doctest: +SKIP
    9
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path

from studio.eval import EvalTask
from studio.home import huddle_home
from studio.llm import Gateway
from studio.optimize.front import PREFER, choose
from studio.optimize.journal import Journal, JournalMismatch, OptimizeError, spec_hash
from studio.optimize.report import OptimizeReport, grade_held_out, spec_diff, write_report
from studio.optimize.search import Search, SearchConfig, Stats
from studio.spec import TeamSpec

__all__ = ["MIN_TASKS", "JournalMismatch", "OptimizeError", "OptimizeReport", "Stats", "optimize", "split_tasks"]

MIN_TASKS = 4
"""The fewest tasks a search can split in two (two to search on, two held out)."""


def split_tasks(tasks: Sequence[EvalTask], fraction: float = 0.5,
                seed: int = 0) -> tuple[list[EvalTask], list[EvalTask]]:
    """The search split (``fraction`` of the tasks, at least two) and the held-out split (the rest, at least two).

    Example:
        >>> tasks = [EvalTask(id=f"t{i}", prompt="p", entry_point="f", tests=["assert f()"]) for i in range(6)]
        >>> [len(s) for s in split_tasks(tasks, 0.5)]
        [3, 3]
    """
    if len(tasks) < MIN_TASKS:
        raise OptimizeError(f"expected at least {MIN_TASKS} tasks (two to search on, two held out), got {len(tasks)}")
    if not 0 < fraction < 1:
        raise OptimizeError(f"split: expected the search split's fraction, between 0 and 1, got {fraction}")
    order = list(tasks)
    random.Random(seed).shuffle(order)
    size = min(len(order) - 2, max(2, round(len(order) * fraction)))
    return order[:size], order[size:]


def _tasks_digest(tasks: Sequence[EvalTask]) -> str:
    text = json.dumps([[t.id, t.prompt, t.tests] for t in tasks])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def optimize(team: TeamSpec, tasks: Sequence[EvalTask], out: str | Path, *, model: str | None = None,
             split: float = 0.5, seed: int = 0, budget_tokens: int | None = None,
             budget_hours: float | None = None, prefer: str = "balanced", ray: bool | str = False,
             compare: dict[str, TeamSpec] | None = None, home: str | Path | None = None,
             gateway: Gateway | None = None, proposals: int = 4,
             on_event: Callable[..., None] = lambda *_, **__: None) -> OptimizeReport:
    """Search edits of ``team`` on part of ``tasks``, pick one on the front, grade it on the rest.

    Args:
        team: the starting team.
        tasks: the user's tasks (at least :data:`MIN_TASKS`).
        out: the folder for the journal (``journal.jsonl``: started again with the same arguments, a stopped
            search resumes from it), the two splits and the report.
        model: one model for every role and the baselines (``None``: each role's own).
        split: the search split's share of the tasks.
        seed: the split's and the search's seed.
        budget_tokens: tokens the search may spend (the held-out grading after it is not counted).
        budget_hours: hours of grading the search may spend.
        prefer: ``accuracy``, ``cost`` or ``balanced`` (:mod:`studio.optimize.front`).
        ray: grade each rung's tasks at once on Ray (``True``: a local instance; or an address).
        compare: more teams, by label, to grade on the held-out split (e.g. another team file).
        home: the state folder (``$HUDDLE_HOME`` by default); the runs stay in its run log.
        gateway: the gateway (tests pass one to read the scripted calls).
        proposals: new teams per generation.
        on_event: called as ``on_event(kind, **info)`` (``task``, ``graded``, ``generation``, ``rejected``,
            ``stopped``, ``held_out``) for progress.

    Raises:
        OptimizeError: fewer than four tasks, a budget below one, a split outside (0, 1), an unknown ``prefer``.
        JournalMismatch: ``out`` holds the journal of another search.
    """
    if prefer not in PREFER:
        raise OptimizeError(f"prefer: expected one of {', '.join(PREFER)}, got {prefer!r}")
    for name, value in (("budget_tokens", budget_tokens), ("budget_hours", budget_hours)):
        if value is not None and value <= 0:
            raise OptimizeError(f"{name}: expected a number above 0, got {value}")
    searched, held = split_tasks(tasks, split, seed)
    out, home_path = Path(out), huddle_home(home)
    journal = Journal(out / "journal.jsonl", {"team": spec_hash(team), "tasks": _tasks_digest(tasks),
                                               "split": split, "seed": seed, "model": model or ""})
    for name, part in (("search.jsonl", searched), ("held_out.jsonl", held)):
        (out / name).write_text("".join(t.model_dump_json() + "\n" for t in part), encoding="utf-8")
    config = SearchConfig(model=model, home=home_path, seed=seed, budget_tokens=budget_tokens,
                          budget_seconds=budget_hours * 3600 if budget_hours is not None else None, ray=ray,
                          proposals=proposals)
    search = Search(team, searched, journal, config, gateway=gateway, on_event=on_event)
    stopped = search.run()
    start = search.stats(spec_hash(team))
    assert start is not None  # the starting team is graded on the whole split before any budget is checked
    evaluated = search.evaluated()
    chosen = choose(evaluated, start, prefer)
    chosen_spec = search.spec_of(chosen.hash)
    teams = {"chosen": chosen_spec, "start": team, **(compare or {})}
    held_out = grade_held_out(teams, "chosen", held, journal, model=model, home=home_path,
                              gateway=search.gateway,
                              on_task=lambda label, task: on_event("held_out", team=label, task=task))
    report = OptimizeReport(chosen_spec, start, chosen, evaluated, stopped, prefer, [t.id for t in searched],
                            [t.id for t in held], held_out, rejected=len(journal.rejected),
                            diff=spec_diff(team, chosen_spec))
    report.paths = {"journal": journal.path, **write_report(report, out)}
    return report

