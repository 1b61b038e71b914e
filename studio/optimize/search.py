"""The search: successive halving over proposed edits of the team, on the search split only.

Each generation takes the best team evaluated so far (on the whole search split) and asks the
moves of :mod:`studio.optimize.space` for up to ``proposals`` new teams (first the best team's
edits that each did better than it, made together (:mod:`studio.optimize.combine`); then one per
move family, the families that paid off before asked first, a model rewriting instructions from
the failures it saw; the runner-up's edits when the best team's run out), and grades them in rungs: every
proposal on the first quarter of the search tasks, the better half on the first half, the best
on all of them. A proposal that fails validation is logged and skipped. Every grade goes to the
journal first, and is never made twice: a stopped search started again replays its decisions
from the journal and grades only what is missing. The held-out tasks are not in this module's
hands at all.

Example:
    >>> rungs(16), rungs(5)
    ([4, 8, 16], [2, 5])
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.bus.factory import open_store
from studio.bus.store import bus_url
from studio.eval import EvalTask, evaluate
from studio.eval.report import TaskResult
from studio.llm import Gateway
from studio.messages import Final
from studio.optimize.combine import combined
from studio.optimize.journal import Journal, spec_hash
from studio.optimize.rewrite import rewriter
from studio.optimize.space import FAMILIES, Context, Proposal, checked, moves_of
from studio.spec import TeamSpec, dump_spec

__all__ = ["OutOfBudget", "Search", "SearchConfig", "Stats", "rungs"]


class OutOfBudget(Exception):
    """The search's token or time budget is spent."""


def rungs(n: int) -> list[int]:
    """The task counts of successive halving's rungs for a search split of ``n`` tasks."""
    return sorted({min(n, max(2, n // 4)), min(n, max(2, n // 2)), n})


@dataclass(frozen=True)
class Stats:
    """A variant's totals on a set of search tasks."""

    hash: str
    passed: int
    tasks: int
    tokens: int
    seconds: float
    cost_usd: float
    family: str = "start"
    change: str = "the starting team"
    parent: str | None = None

    @property
    def tokens_per_task(self) -> float:
        """Tokens per graded task."""
        return self.tokens / self.tasks if self.tasks else 0.0

    @property
    def seconds_per_task(self) -> float:
        """Seconds per graded task."""
        return self.seconds / self.tasks if self.tasks else 0.0

    @property
    def pass_rate(self) -> float:
        """Passed over graded."""
        return self.passed / self.tasks if self.tasks else 0.0


@dataclass
class SearchConfig:
    """How the search runs."""

    model: str | None = None
    """One model for every role (``None``: each role's own)."""
    home: Path = Path(".")
    seed: int = 0
    budget_tokens: int | None = None
    """Tokens the search's evaluations may spend (the held-out grading after it is not counted)."""
    budget_seconds: float | None = None
    ray: bool | str = False
    proposals: int = 4
    """New teams per generation."""
    generations: int = 50


@dataclass
class _Variant:
    hash: str
    spec: TeamSpec
    family: str
    change: str
    parent: str | None


Event = Callable[..., None]


@dataclass
class Search:
    """One search over edits of ``start`` on ``tasks`` (the search split)."""

    start: TeamSpec
    tasks: list[EvalTask]
    journal: Journal
    config: SearchConfig
    gateway: Gateway | None = None
    on_event: Event = field(default=lambda *_, **__: None)
    _variants: dict[str, _Variant] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        """Restore the variants the journal holds; open the run log the codes of solved tasks are read from."""
        d = self.start.defaults
        self.gateway = self.gateway or Gateway(d.max_concurrency, limits=d.providers)
        self._rng = random.Random(self.config.seed)
        self._store = open_store(self.config.home, bus_url(self.start.defaults.bus_url))
        self._rewrite = rewriter(self.start, self.config.model, self.gateway, self.journal)

    def stats(self, digest: str, tasks: list[EvalTask] | None = None) -> Stats | None:
        """``digest``'s totals on ``tasks`` (the whole split by default); ``None`` until all are graded."""
        rows = [self.journal.result(digest, t.id) for t in (tasks or self.tasks)]
        if any(r is None for r in rows):
            return None
        found = [r for r in rows if r is not None]
        line = self.journal.variants.get(digest, {})
        return Stats(digest, sum(bool(r["passed"]) for r in found), len(found), sum(int(r["tokens"]) for r in found),
                     sum(float(r["seconds"]) for r in found), sum(float(r["cost_usd"]) for r in found),
                     line.get("family", "start"), line.get("change", "the starting team"), line.get("parent"))

    def _budget_left(self) -> None:
        tokens, seconds = self.journal.spent()
        if self.config.budget_tokens is not None and tokens >= self.config.budget_tokens:
            raise OutOfBudget(f"the token budget ({self.config.budget_tokens:,}) is spent: {tokens:,}")
        if self.config.budget_seconds is not None and seconds >= self.config.budget_seconds:
            raise OutOfBudget(f"the time budget ({self.config.budget_seconds / 3600:.2f} h) is spent")

    def _grade(self, variant: _Variant, tasks: list[EvalTask], rung: int) -> Stats:
        missing = [t for t in tasks if self.journal.result(variant.hash, t.id) is None]
        batches = [missing] if self.config.ray is not False and missing else [[t] for t in missing]
        for batch in batches:
            if variant.parent is not None:  # the starting team is graded on the whole split, whatever the budget
                self._budget_left()
            self.on_event("task", variant=variant.hash, change=variant.change, rung=rung, task=batch[0].id)
            report = evaluate(variant.spec, batch, self.config.model, home=self.config.home,
                              gateway=None if self.config.ray is not False else self.gateway, ray=self.config.ray)
            for result in report.results:
                self._record(variant, result)
        stats = self.stats(variant.hash, tasks)
        assert stats is not None  # every task was just graded
        return stats

    def _record(self, variant: _Variant, result: TaskResult) -> None:
        row: dict[str, Any] = {"passed": result.passed, "tokens": result.tokens, "cost_usd": result.cost_usd,
                               "seconds": round(result.seconds, 3), "run_id": result.run_id, "reason": result.reason}
        if result.passed and result.run_id:
            final = next((m for m in reversed(self._store.messages(result.run_id)) if isinstance(m, Final)), None)
            row["code"] = final.code[:4000] if final is not None else ""
        self.journal.add_eval(variant.hash, result.task_id, row)
        self.on_event("graded", variant=variant.hash, task=result.task_id, passed=result.passed,
                      tokens=result.tokens, seconds=result.seconds)

    def _context(self, best: str) -> Context:
        solved: list[tuple[str, str]] = []
        failures: list[tuple[str, str]] = []
        for task in self.tasks:
            row = self.journal.result(best, task.id) or {}
            if row.get("passed") and row.get("code"):
                solved.append((task.prompt, row["code"]))
            elif row and not row.get("passed"):
                failures.append((task.prompt, str(row.get("reason", ""))))
        if not solved:  # any variant's solved search tasks will do
            seen = {t.id: t.prompt for t in self.tasks}
            solved = [(seen[k[1]], r["code"]) for k, r in self.journal.evals.items()
                      if r.get("passed") and r.get("code") and k[1] in seen and k[0] in self._variants]
        return Context(solved=solved, failures=failures,
                       rewrite=lambda *args: self._rewrite(best, *args))

    def _weight(self, family: str) -> float:
        tried = [self.journal.variants[h] for h, v in self._variants.items() if v.family == family]
        wins = 0
        for line in tried:
            mine, parent = self.stats(line["hash"]), self.stats(line["parent"]) if line.get("parent") else None
            wins += bool(mine and parent and (mine.passed, -mine.tokens) > (parent.passed, -parent.tokens))
        return (wins + 1) / (len(tried) + 2)

    def _helped(self, best: Stats) -> list[tuple[_Variant, _Variant]]:
        """(parent, edit) for each edit off ``best``'s lineage that beat its parent on the tasks it was graded on.

        The most tasks gained (per task graded) first, then the largest share of tokens saved.
        """
        lineage: list[str] = []
        digest: str | None = best.hash
        while digest is not None:
            lineage.append(digest)
            digest = self._variants[digest].parent
        gains = []
        for child in self._variants.values():
            if child.parent not in lineage or child.hash in lineage:
                continue
            graded = next((s for k in reversed(rungs(len(self.tasks)))
                           if (s := self.stats(child.hash, self.tasks[:k])) is not None), None)
            mine = self.stats(child.parent, self.tasks[:graded.tasks]) if graded is not None else None
            if graded is None or mine is None:
                continue
            gain = (graded.passed - mine.passed) / graded.tasks, (mine.tokens - graded.tokens) / max(1, mine.tokens)
            if gain[0] > 0 or (gain[0] == 0 and gain[1] > 0):
                gains.append((gain, self._variants[child.parent], child))
        return [(parent, child) for _, parent, child in sorted(gains, key=lambda g: (-g[0][0], -g[0][1]))]

    def _combination(self, best: Stats) -> Proposal | None:
        """``best`` with the edits that paid off its lineage made too (:mod:`studio.optimize.combine`)."""
        helped = self._helped(best)
        data, used = combined(_data(self._variants[best.hash].spec),
                              [(_data(parent.spec), _data(child.spec)) for parent, child in helped])
        if not used:
            return None
        return Proposal("combine", "combined: " + "; ".join(helped[i][1].change for i in used), data)

    def _propose(self, parents: list[Stats]) -> list[_Variant]:
        ctx = self._context(parents[0].hash)
        picked: list[_Variant] = []
        refused = {r["change"] for r in self.journal.rejected}

        def take(proposal: Proposal, parent: str) -> bool:
            """Add ``proposal`` to the generation if it validates and is new; log it if it does not validate."""
            spec, problems = checked(proposal)
            if spec is None:
                if proposal.change not in refused:
                    refused.add(proposal.change)
                    self.journal.add_rejected(proposal.family, proposal.change, problems)
                    self.on_event("rejected", change=proposal.change, problems=problems)
                return False
            digest = spec_hash(spec)
            if digest in self._variants or any(v.hash == digest for v in picked):
                return False
            picked.append(_Variant(digest, spec, proposal.family, proposal.change, parent))
            return True

        combination = self._combination(parents[0])  # the edits that paid, together, first
        if combination is not None:
            take(combination, parents[0].hash)
        families = sorted(FAMILIES, key=lambda f: -self._weight(f))
        for parent in parents:  # the best team's neighbours first, one per family; the runner-up's when those run out
            data = _data(self._variants[parent.hash].spec)
            for family in families:
                proposals: list[Proposal] = moves_of(data, ctx, family)
                self._rng.shuffle(proposals)
                any(take(proposal, parent.hash) for proposal in proposals)  # the first that validates and is new
                if len(picked) >= self.config.proposals:
                    return picked
        return picked

    def _admit(self, variant: _Variant) -> None:
        self._variants[variant.hash] = variant
        self.journal.add_variant(variant.hash, _data(variant.spec), variant.parent, variant.family, variant.change)

    def spec_of(self, digest: str) -> TeamSpec:
        """The team ``digest`` names (admitted in this search)."""
        return self._variants[digest].spec

    def best(self, count: int = 2) -> list[Stats]:
        """The ``count`` best teams graded on the whole split: most passed, then fewest tokens."""
        full = [s for s in (self.stats(h) for h in self._variants) if s is not None]
        return sorted(full, key=lambda s: (-s.passed, s.tokens))[:count]

    def evaluated(self) -> list[Stats]:
        """Every team graded on the whole split, in the order they were admitted."""
        return [s for s in (self.stats(h) for h in self._variants) if s is not None]

    def run(self) -> str:
        """Search until the budget is spent or no new proposal is left; returns why it stopped."""
        start = _Variant(spec_hash(self.start), self.start, "start", "the starting team", None)
        self._admit(start)
        started = time.monotonic()
        try:
            self._grade(start, self.tasks, len(self.tasks))
            for generation in range(1, self.config.generations + 1):
                survivors = self._propose(self.best())
                if not survivors:
                    return "no new proposal is left"
                self.on_event("generation", number=generation, proposals=[v.change for v in survivors])
                for variant in survivors:
                    self._admit(variant)
                for size in rungs(len(self.tasks)):
                    subset = self.tasks[:size]
                    scored = [(self._grade(v, subset, size), v) for v in survivors]
                    scored.sort(key=lambda sv: (-sv[0].passed, sv[0].tokens))
                    survivors = [v for _, v in scored[:max(1, math.ceil(len(scored) / 2))]]
            return f"{self.config.generations} generations done"
        except OutOfBudget as spent:
            return str(spent)
        finally:
            self.on_event("stopped", seconds=time.monotonic() - started)


def _data(spec: TeamSpec) -> dict[str, Any]:
    """The spec as the minimal dict its file holds (what moves edit)."""
    return json.loads(dump_spec(spec, "json", minimal=True))
