"""Compare parallel results with the execution evidence.

The critic ranks best_of_n's candidates; the judge compares cross_team's
sub-teams (and may merge them).

The evidence comes first: a pick whose run failed, while another passed, is
overruled, as the critic's approval of failing code is. Among candidates whose
runs did equally well, the one that behaves like most of the others on probe
inputs derived from the task's examples wins (:mod:`roles.probe`); the critic's
pick breaks what is still tied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal, TypeVar

from pydantic import BaseModel, Field, create_model

from roles._parse import ParseError, extract_code, extract_json, parse_model
from roles.base import RoleContext, TeamState, ask, feedback_of, last, task_of
from roles.board import Board
from roles.critic import ReviewReply
from roles.designed import designed_results, scores
from roles.executor import execute, execution_report, task_counts
from roles.probe import agreement, behaviour, distinct_agreement, probe_calls, shared_results
from studio.messages import Code, DesignedTests, Execution, Message, Ranking, Review, Usage, new_id

__all__ = ["SHOWN", "Candidate", "JudgeReply", "RankReply", "by_evidence", "evidence_decides", "judge_results",
           "promote", "rank_candidates", "shown_to_critic", "with_agreement", "with_designed"]


@dataclass(frozen=True)
class Candidate:
    """One parallel result: a branch's last code and the run of it."""

    name: str
    """The branch (``c2``, or a sub-team's name)."""
    code: Code | None
    execution: Execution | None = None
    note: str = ""
    """What else is known (``approved by its critic``)."""
    agreement: int = 0
    """How many other candidates gave the same results on every probe call."""
    distinct: int = 0
    """How many different programs among those, other than its own code (copies of one code count once)."""
    shared: int = 0
    """Results on single probe calls it shares with other candidates (summed over them)."""
    designed: float = 0.0
    """Designed tests it passes, each weighted by the share of candidates that pass it (:mod:`roles.vote`)."""

    def score(self) -> tuple[int, int, int, int, float, int, int, int, int]:
        """The sort key of the evidence; higher is better.

        In order: runs clean on the task's tests, passes more of them, fails fewer, agrees with more others
        (wholly), passes more trusted designed tests, agrees with more programs other than its own copies,
        agrees call by call, passes more of its own tests, has code.

        The code's own tests (its ``test_`` functions) count after the agreement: a small model's tests are
        often wrong, and a wrong test must not sink right code below code that agrees with the others.
        """
        ran = self.execution
        if ran is None:
            return (0, 0, 0, self.agreement, self.designed, self.distinct, self.shared, 0,
                    int(bool(self.code and self.code.code)))
        passed, failed = task_counts(ran)
        clean = ran.limit is None and failed == 0 and (ran.exit_code == 0 or ran.own_failed > 0)
        return (int(clean), passed, -failed, self.agreement, self.designed, self.distinct, self.shared,
                ran.own_passed - ran.own_failed, 1)

    def report(self) -> str:
        """What the critic reads about this candidate: its run (or why there is none) and its agreement."""
        if self.code is None or not self.code.code:
            return "no code was written"
        ran = execution_report(self.execution, limit=400) if self.execution is not None else "not run"
        if self.agreement:
            ran += f"\nsame results as {self.agreement} other candidate(s) on probe inputs"
        return ran + (f"\npasses designed tests worth {self.designed:g}" if self.designed else "")


T = TypeVar("T")
SHOWN = 8
"""Candidates the critic's ranking prompt shows at most (16 of a small model's fill its 4k context)."""


def shown_to_critic(candidates: list[Candidate], most: int = SHOWN) -> list[Candidate]:
    """The candidates the critic compares, at most ``most``, in their own order.

    One of each distinct code is kept (a copy says nothing new), the best by the evidence first.
    """
    distinct: dict[str, Candidate] = {}
    for c in by_evidence(candidates):
        distinct.setdefault(" ".join(c.code.code.split()) if c.code else "", c)
    keep = {c.name for c in list(distinct.values())[:most]}
    return [c for c in candidates if c.name in keep]


def by_evidence(candidates: list[Candidate]) -> list[Candidate]:
    """Best first by the evidence alone (stable: ties keep their order)."""
    return sorted(candidates, key=lambda c: c.score(), reverse=True)


def with_agreement(candidates: list[Candidate], task: str, sandbox,
                   known: Mapping[str, tuple[str, ...] | None] | None = None) -> list[Candidate]:
    """The candidates, each with how many others behave the same on probe calls derived from ``task``.

    Unchanged without a sandbox, without example calls in the task, or with fewer than three candidates
    (two that differ say nothing about which is right). ``known`` gives behaviours already found, by
    candidate name (what adaptive N's board holds); the others run at once, in threads, once per distinct code.
    """
    calls = probe_calls(task)
    if sandbox is None or not calls or len(candidates) < 3:
        return candidates
    known = known or {}
    by_code = {c.code.code: known[c.name] for c in candidates if c.name in known and c.code}
    firsts: dict[str, Candidate] = {}  # one candidate of each code not yet probed: one program, one behaviour
    for c in candidates:
        if c.code and c.code.code and c.code.code not in by_code:
            firsts.setdefault(c.code.code, c)

    def probe(c: Candidate) -> tuple[str, ...] | None:
        return behaviour(c.code.code if c.code else "", calls, sandbox, name=f"probe-{c.name}")

    by_code.update(zip(firsts, _each(probe, list(firsts.values())), strict=True))
    found = [known[c.name] if c.name in known else by_code.get(c.code.code) if c.code else None for c in candidates]
    codes = [c.code.code if c.code else "" for c in candidates]
    return [replace(c, agreement=n, distinct=d, shared=k)
            for c, n, d, k in zip(candidates, agreement(found), distinct_agreement(found, codes),
                                  shared_results(found), strict=True)]


def with_designed(candidates: list[Candidate], tests: Sequence[str], sandbox,
                  known: Mapping[str, Sequence[bool]] | None = None) -> list[Candidate]:
    """The candidates, each with its trust-weighted score on the designed ``tests`` (unchanged without tests).

    ``known`` gives results already found (a row per candidate name); the others run at once, in threads.
    """
    if not tests or sandbox is None:
        return candidates
    known = known or {}

    def row(c: Candidate) -> Sequence[bool]:
        if c.name in known:
            return known[c.name]
        return designed_results(c.code.code if c.code else "", tests, sandbox, name=f"designed-{c.name}")

    found = scores(_each(row, candidates))
    return [replace(c, designed=score) for c, score in zip(candidates, found, strict=True)]


def _each(fn: Callable[[Candidate], T], candidates: list[Candidate]) -> list[T]:
    """``fn`` of each candidate, in order; sandbox runs at once (a thread each, at most :data:`SHOWN`)."""
    with ThreadPoolExecutor(max_workers=max(1, min(SHOWN, len(candidates)))) as pool:
        return list(pool.map(fn, candidates))


class RankReply(ReviewReply):
    """The JSON contract of the critic's ranking: the best candidate, and its review."""

    best: str


class JudgeReply(BaseModel):
    """The JSON part of the judge's reply (merged code, if any, follows in a fenced block)."""

    best: str
    reason: str = ""


_Verdict = Literal["approve", "revise"]


@lru_cache(maxsize=64)
def _rank_schema(names: tuple[str, ...]) -> type[BaseModel]:
    """The rank reply with ``best`` limited to the candidates' names, so constrained decoding picks a real one."""
    # create_model's stubs want type[Any] for a field; a Literal (here one built at run time) is a special form
    # that pydantic takes all the same. (mypy flags the verdict field on a warm cache only, hence unused-ignore.)
    return create_model("Rank", best=(Literal[names], ...),  # type: ignore[arg-type]
                        verdict=(_Verdict, ...),  # type: ignore[arg-type, unused-ignore]
                        feedback=(str, Field(max_length=300)), lessons=(list[str], Field(max_length=3)))


def _length(candidate: Candidate) -> int:
    return len(candidate.code.code.strip()) if candidate.code and candidate.code.code.strip() else 1 << 30


def _tied(ranked: list[Candidate]) -> list[Candidate]:
    """The candidates the evidence cannot tell from the first of ``ranked`` (which is in the evidence's order)."""
    return [c for c in ranked if c.score()[:8] == ranked[0].score()[:8]]


def _shortest_of_best(ranked: list[Candidate]) -> tuple[Candidate, str]:
    """The first by the evidence (``ranked`` is in that order), the shortest code of those it cannot tell apart."""
    tied = _tied(ranked)
    if len(tied) == 1:
        return tied[0], f" The evidence puts {tied[0].name} first."
    shortest = min(tied, key=_length)
    return shortest, f" The evidence ties {', '.join(c.name for c in tied)}: the shortest code, {shortest.name}'s."


def _pick(candidates: list[Candidate], name: str | None, tie_break: str = "critic") -> tuple[Candidate, str]:
    """The named candidate, unless the evidence overrules it; and why it was overruled.

    With ``tie_break="shortest"``, the shortest code among those the evidence cannot tell apart is chosen
    instead of the named one.
    """
    ranked = by_evidence(candidates)
    best = ranked[0]
    if tie_break == "shortest" and len(_tied(ranked)) > 1:
        return _shortest_of_best(ranked)
    chosen = next((c for c in candidates if c.name == name), best)
    for depth, why in _OVERRULED:
        if chosen.score()[:depth] < best.score()[:depth]:
            return best, " " + why(chosen, best)
    return chosen, "" if name in {c.name for c in candidates} else " No usable pick: the evidence decided."


_OVERRULED = (
    (1, lambda c, b: f"{c.name} was picked, but its run failed while {b.name}'s passed."),
    (3, lambda c, b: f"{c.name} was picked, but {b.name} passed more tests."),
    (4, lambda c, b: f"{c.name} was picked, but {b.name} gives the same results as {b.agreement} other "
                     f"candidate(s) on probe inputs, {c.name} as {c.agreement}."),
    (5, lambda c, b: f"{c.name} was picked, but {b.name} passes more of the designed tests the candidates "
                     f"agree with ({b.designed:g} against {c.designed:g})."),
    (6, lambda c, b: f"{c.name} was picked, but {b.name}'s results are those of {b.distinct} other program(s), "
                     f"{c.name}'s of {c.distinct} (copies of one code count once)."),
    (7, lambda c, b: f"{c.name} was picked, but {b.name} shares {b.shared} results on probe inputs with the "
                     f"others, {c.name} {c.shared}."),
    (8, lambda c, b: f"{c.name} was picked, but {b.name} passes more of its own tests."),
)
"""How far the evidence must agree with a pick, and what it says when it does not (the first level that
tells them apart)."""


def promote(candidate: Candidate, ctx: RoleContext, note: str) -> list[Message]:
    """Copies of a branch's code and its run on the main line, where the team goes on with them."""
    code = candidate.code
    if code is None:
        return []
    copy = Code(run_id=ctx.run_id, sender=code.sender, content=note, code=code.code, parent_id=code.id)
    if candidate.execution is None:
        return [copy]
    ran = candidate.execution.model_copy(update={"id": new_id(),
                                                 "parent_id": copy.id, "branch": ""})
    return [copy, ran]


def _ranking(ctx: RoleContext, candidates: list[Candidate], chosen: Candidate, reason: str, usage: Usage,
             memory_ids: list[str]) -> Ranking:
    order = [chosen.name] + [c.name for c in by_evidence(candidates) if c.name != chosen.name]
    shown = ", ".join(f"{c.name} ({'ok' if c.score()[0] else 'failed' if c.execution else 'not run'})"
                      for c in candidates)
    return Ranking(run_id=ctx.run_id, sender=ctx.role.name, order=order, chosen=chosen.name, reason=reason.strip(),
                   content=f"Chose {chosen.name} of {shown}. {reason}".strip(), memory_ids=list(memory_ids),
                   usage=usage)


def evidence_decides(state: TeamState, ctx: RoleContext) -> bool:
    """Whether the critic's ranking could change nothing, so it is not asked (a model call saved).

    So it is when ties go to the shortest code (``flow.tie_break: shortest``: the evidence, then the length,
    decide every pick) and the ranking is the run's last round (its review could send no one back).
    """
    flow = ctx.team.flow
    return flow.tie_break == "shortest" and state.get("turns", 0) + 1 >= flow.max_rounds


def rank_candidates(state: TeamState, ctx: RoleContext, candidates: list[Candidate], *,
                    board: Board | None = None) -> list[Message]:
    """The critic ranks the candidates by their runs and reviews the best, which continues on the main line.

    ``board`` holds evidence the candidates already posted (adaptive N): it is used, not found again.
    """
    transcript, task = state["transcript"], task_of(state["transcript"])
    if ctx.team.sandbox.enabled:
        designed = last(transcript, DesignedTests)
        posted = {c.name: e for c in candidates if c.code and board is not None
                  and (e := board.evidence(c.name, c.code.code)) is not None}
        candidates = with_agreement(candidates, task, ctx.sandbox, {n: e.behaviour for n, e in posted.items()})
        tests = designed.tests if designed else []
        candidates = with_designed(candidates, tests, ctx.sandbox,
                                   {n: e.designed for n, e in posted.items() if len(e.designed) == len(tests)})
    if evidence_decides(state, ctx):
        chosen, why = _shortest_of_best(by_evidence(candidates))
        reason = (f"{why.strip()} The critic was not asked: with flow.tie_break: shortest its pick could not "
                  "change the choice, and no round is left for a review.")
        promoted = promote(chosen, ctx, f"Candidate {chosen.name} was chosen and continues.")
        return [_ranking(ctx, candidates, chosen, reason, Usage(), []), *promoted]
    shown = shown_to_critic(candidates)
    names = tuple(c.name for c in shown)
    answer = ask(ctx, {"task": task, "names": ", ".join(names), "feedback": feedback_of(transcript),
                       "candidates": [{"name": c.name, "code": c.code.code if c.code else "", "report": c.report()}
                                      for c in shown], "not_shown": len(candidates) - len(shown)},
                 lambda t: parse_model(t, RankReply), schema=_rank_schema(names), query=task, prompt="rank")
    reply = answer.parsed
    chosen, overruled = _pick(candidates, reply.best if reply else None, ctx.team.flow.tie_break)
    review = ReviewReply(verdict=reply.verdict, feedback=reply.feedback, lessons=reply.lessons) if reply else \
        ReviewReply(verdict="revise", feedback="The ranking could not be read; please check the code again.")
    ran = chosen.execution
    if review.verdict == "approve" and (not (chosen.code and chosen.code.code) or (ran is not None and not ran.ok)):
        review = ReviewReply(verdict="revise", lessons=review.lessons,
                             feedback=f"The best candidate fails when it runs ({ran.content if ran else 'no code'}) "
                                      "Fix that first.")
    promoted = promote(chosen, ctx, f"Candidate {chosen.name} was chosen and continues.")
    verdict = Review(run_id=ctx.run_id, sender=ctx.role.name, verdict=review.verdict, feedback=review.feedback,
                     lessons=review.lessons, content=f"{review.verdict.upper()}: {review.feedback}".strip(),
                     parent_id=promoted[0].id if promoted else None)
    ranking = _ranking(ctx, candidates, chosen, (reply.feedback if reply else "") + overruled, answer.usage,
                       answer.memory_ids)
    return [*answer.notes, ranking, *promoted, verdict]


def _judge_parse(text: str) -> tuple[JudgeReply, str]:
    try:
        reply = JudgeReply.model_validate(extract_json(text))
    except ValueError as exc:
        raise ParseError(f"the JSON does not match the expected shape ({exc})") from None
    try:
        merged = extract_code(text)
    except ParseError:
        merged = ""
    return reply, merged


def judge_results(state: TeamState, ctx: RoleContext, candidates: list[Candidate]) -> list[Message]:
    """The judge compares every sub-team's result and names the best; merged code must run at least as well."""
    transcript, task = state["transcript"], task_of(state["transcript"])
    names = tuple(c.name for c in candidates)
    answer = ask(ctx, {"task": task, "names": ", ".join(names), "feedback": feedback_of(transcript),
                       "candidates": [{"name": c.name, "code": c.code.code if c.code else "", "report": c.report(),
                                       "note": c.note} for c in candidates]},
                 _judge_parse, query=task, prompt="judge")
    reply, merged = answer.parsed or (None, "")
    chosen, reason = _pick(candidates, reply.best if reply else None)
    reason = (reply.reason if reply else "") + reason
    notes: list[Message] = list(answer.notes)
    if merged and ctx.sandbox is not None:
        assert reply is not None  # merged code comes only with a reply that parsed
        # the reply's fields in words, not its JSON, which every surface would show as prose
        said = f"Merged code from the sub-teams' results (the best alone: {reply.best}). {reply.reason}".strip()
        code = Code(run_id=ctx.run_id, sender=ctx.role.name, content=said, code=merged, branch="merge")
        ran = [m.model_copy(update={"branch": "merge"}) for m in execute({**state, "transcript": [
            *transcript, code]}, ctx)]
        trial = Candidate("merged", code, next((m for m in ran if isinstance(m, Execution)), None))
        notes += [code, *ran]
        if trial.score() >= chosen.score():
            chosen, reason = trial, f"{reason} The merged code runs at least as well as {chosen.name}'s."
        else:
            reason = f"{reason} The merged code ran worse than {chosen.name}'s, so {chosen.name}'s result stands."
    ranking = _ranking(ctx, candidates, chosen, reason, answer.usage, answer.memory_ids)
    return [*notes, ranking, *promote(chosen, ctx, f"The judge chose {chosen.name}.")]
