"""The search space of ``huddle optimize``: small edits of a team spec, each checked before it is tried.

A *move* takes the spec (as the dict a team file holds) and proposes edited copies, each with a
one-line description of the change: the flow and its parameters, temperatures and ``max_tokens``,
worked examples for the coder drawn from search tasks the team solved, which roles take part,
memory and its ``top_k``, the sandbox's attempts, and a role's ``instructions`` rewritten by a
model from the failures it saw. Nothing outside the spec changes, and no proposal is tried until
the spec validates (:func:`checked`).

Example:
    >>> spec = {"name": "t", "roles": [{"name": "coder", "kind": "coder"}, {"name": "critic", "kind": "critic"}]}
    >>> [p.change for p in moves_of(spec, Context(), "flow")][:1]
    ['flow: sequential -> best_of_n (4 candidates, ties to the shortest code, one round)']
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from studio.spec import SpecError, TeamSpec, parse_spec

__all__ = ["FAMILIES", "Context", "Proposal", "Rewrite", "checked", "moves_of"]

Spec = dict[str, Any]
Rewrite = Callable[[str, str, str, Sequence[tuple[str, str]]], "str | None"]
"""``rewrite(role, kind, instructions, failures)``: new instructions for a role from (task, why it failed)
pairs, or ``None`` when the model had nothing usable."""


@dataclass(frozen=True)
class Proposal:
    """One edited spec and what changed."""

    family: str
    """The move that made it (:data:`FAMILIES`)."""
    change: str
    """The change in a line, for the log and the report."""
    spec: Spec


@dataclass
class Context:
    """What moves may draw on: the search split's solved tasks and failures, and a model to rewrite with."""

    solved: list[tuple[str, str]] = field(default_factory=list)
    """(task prompt, the code that passed its hidden tests), search split only."""
    failures: list[tuple[str, str]] = field(default_factory=list)
    """(task prompt, why the team failed it), search split only."""
    rewrite: Rewrite | None = None


def _roles(spec: Spec) -> list[Spec]:
    return spec.setdefault("roles", [])


def _kind(role: Spec) -> str:
    return str(role.get("acts_as") or role.get("kind", ""))


def _named(spec: Spec, kind: str) -> list[Spec]:
    return [r for r in _roles(spec) if _kind(r) == kind]


def _flow(spec: Spec) -> Spec:
    return spec.setdefault("flow", {})


def _edit(spec: Spec, family: str, change: str, edit: Callable[[Spec], None]) -> Proposal:
    new = copy.deepcopy(spec)
    edit(new)
    return Proposal(family, change, new)


def _set(spec: Spec, family: str, change: str, path: tuple[str, ...], value: Any) -> Proposal:
    """``spec`` with the field at ``path`` set (``role:NAME`` steps into that role)."""
    new = copy.deepcopy(spec)
    node = new
    for key in path[:-1]:
        node = _role(node, key[5:]) if key.startswith("role:") else node.setdefault(key, {})
    node[path[-1]] = value
    return Proposal(family, change, new)


def _flow_moves(spec: Spec, ctx: Context) -> Iterator[Proposal]:
    flow = _flow(spec)
    kind = flow.get("type", "sequential")
    if kind != "best_of_n" and _named(spec, "coder") and _named(spec, "critic"):
        for n, lean in ((4, False), (8, False), (8, True)):
            lean_note = ("; lean: no planner or orchestrator, each candidate fixed at most once, at most 256 tokens, "
                         "reading no memory, writing no tests of its own" if lean else "")
            yield _edit(spec, "flow", f"flow: {kind} -> best_of_n ({n} candidates, ties to the shortest code, "
                        f"one round{lean_note})", partial(_to_best_of_n, n=n, lean=lean))
    if kind == "best_of_n":
        n = int(flow.get("candidates", 3))
        for m in sorted({max(2, n // 2), min(16, n * 2)} - {n}):
            yield _set(spec, "flow", f"flow.candidates: {n} -> {m}", ("flow", "candidates"), m)
        agree = int(flow.get("agree", 3))
        for a in sorted({0, 2, 3} - {agree}):
            yield _set(spec, "flow", f"flow.agree: {agree} -> {a}", ("flow", "agree"), a)
        give_up = int(flow.get("give_up_after", 0))
        for g in sorted({0, max(2, n // 2)} - {give_up}):
            yield _set(spec, "flow", f"flow.give_up_after: {give_up} -> {g}", ("flow", "give_up_after"), g)
        hot = float(flow.get("candidate_temperature", 0.8))
        for t in sorted({0.5, 0.8} - {hot}):
            yield _set(spec, "flow", f"flow.candidate_temperature: {hot} -> {t}", ("flow", "candidate_temperature"), t)
        tie = flow.get("tie_break", "critic")
        other = "critic" if tie == "shortest" else "shortest"
        yield _set(spec, "flow", f"flow.tie_break: {tie} -> {other}", ("flow", "tie_break"), other)
    else:
        rounds = int(flow.get("max_rounds", 8))
        for r in sorted({max(2, rounds - 2), min(12, rounds + 2)} - {rounds}):
            yield _set(spec, "flow", f"flow.max_rounds: {rounds} -> {r}", ("flow", "max_rounds"), r)


def _to_best_of_n(spec: Spec, n: int, lean: bool) -> None:
    """``spec`` as a best_of_n team of ``n`` candidates; ``lean``: each candidate as cheap as it can usefully be.

    Candidates judged by running them need no plan or router, and N of them multiply whatever one costs (its
    fix attempts, its reply's length, its memory reads, the tests it writes beside its code: the candidates'
    agreement is the evidence): the lean variant trims each, as an AFlow-style operator would.
    """
    if lean:
        spec["roles"] = [r for r in _roles(spec) if _kind(r) not in ("planner", "orchestrator")]
        sandbox = spec.setdefault("sandbox", {})
        sandbox["max_attempts"] = min(2, int(sandbox.get("max_attempts", 3)))
        defaults = spec.setdefault("defaults", {})
        defaults["max_tokens"] = min(256, int(defaults.get("max_tokens", 512)))
        for role in _named(spec, "coder"):
            role["memory"] = {**role.get("memory", {}), "read": []}
            role["writes_tests"] = False
    spec["flow"] = {"type": "best_of_n", "candidates": n, "agree": 2, "tie_break": "shortest", "max_rounds": 1}


def _temperature_moves(spec: Spec, ctx: Context) -> Iterator[Proposal]:
    base = float(spec.get("defaults", {}).get("temperature", 0.2))
    for role in _named(spec, "coder"):
        now = role.get("limits", {}).get("temperature", base)
        for t in (0.0, 0.2, 0.5, 0.8):
            if t != now:
                yield _set(spec, "temperature", f"roles.{role['name']}.limits.temperature: {now} -> {t}",
                           (f"role:{role['name']}", "limits", "temperature"), t)


def _max_tokens_moves(spec: Spec, ctx: Context) -> Iterator[Proposal]:
    now = int(spec.get("defaults", {}).get("max_tokens", 512))
    for m in (128, 192, 256, 384, 512):
        if m != now:
            yield _set(spec, "max_tokens", f"defaults.max_tokens: {now} -> {m}", ("defaults", "max_tokens"), m)


def _role(spec: Spec, name: str) -> Spec:
    return next(r for r in _roles(spec) if r.get("name") == name)


def _example_moves(spec: Spec, ctx: Context) -> Iterator[Proposal]:
    if not ctx.solved:
        return
    picks = sorted(ctx.solved, key=lambda tc: len(tc[0]) + len(tc[1]))[:2]
    examples = [{"task": task, "reply": f"```python\n{code.strip()}\n```"} for task, code in picks]
    for role in _named(spec, "coder"):
        have = role.get("examples") or []
        if any(e.get("task") == examples[0]["task"] for e in have):
            continue
        yield _set(spec, "examples", f"roles.{role['name']}.examples: {len(have)} -> {len(examples)} worked "
                   "examples from solved search tasks", (f"role:{role['name']}", "examples"), examples)


def _without(spec: Spec, name: str) -> None:
    """Drop role ``name`` and route around it: its predecessors go to its successors."""
    spec["roles"] = [r for r in _roles(spec) if r.get("name") != name]
    flow = _flow(spec)
    edges = flow.get("edges") or []
    ins = [e["from"] for e in edges if e.get("to") == name and e.get("from") != name]
    outs = [e["to"] for e in edges if e.get("from") == name and e.get("to") != name]
    kept = [e for e in edges if name not in (e.get("from"), e.get("to"))]
    for a in ins:
        for b in outs:
            if a != b and not any(e["from"] == a and e["to"] == b for e in kept):
                kept.append({"from": a, "to": b})
    if edges:
        flow["edges"] = kept
    if flow.get("entry") == name:
        flow["entry"] = outs[0] if outs else None
        if flow["entry"] is None:
            del flow["entry"]


def _role_moves(spec: Spec, ctx: Context) -> Iterator[Proposal]:
    kind = _flow(spec).get("type", "sequential")
    for role in list(_roles(spec)):
        if _kind(role) in ("planner", "orchestrator", "test_designer") and len(_roles(spec)) > 1:
            yield _edit(spec, "roles", f"roles: without {role['name']} ({_kind(role)})",
                        partial(_without, name=role["name"]))
    for role in _named(spec, "coder"):
        writes = bool(role.get("writes_tests", True))
        yield _set(spec, "roles", f"roles.{role['name']}.writes_tests: {writes} -> {not writes}",
                   (f"role:{role['name']}", "writes_tests"), not writes)
    if kind == "best_of_n" and not _named(spec, "test_designer"):
        def add(s: Spec) -> None:
            _roles(s).insert(0, {"name": "tester", "kind": "test_designer", "memory": {"read": []}})
        yield _edit(spec, "roles", "roles: with a test designer (asserts from the task's text, trusted as far as "
                    "the candidates agree)", add)


def _memory_moves(spec: Spec, ctx: Context) -> Iterator[Proposal]:
    memory = spec.get("memory", {})
    on = bool(memory.get("enabled", True))
    yield _set(spec, "memory", f"memory.enabled: {on} -> {not on}", ("memory", "enabled"), not on)
    if on:
        k = int(memory.get("top_k", 3))
        for t in sorted({1, 5} - {k}):
            yield _set(spec, "memory", f"memory.top_k: {k} -> {t}", ("memory", "top_k"), t)


def _sandbox_moves(spec: Spec, ctx: Context) -> Iterator[Proposal]:
    now = int(spec.get("sandbox", {}).get("max_attempts", 3))
    for m in (1, 2, 3):
        if m != now:
            yield _set(spec, "sandbox", f"sandbox.max_attempts: {now} -> {m}", ("sandbox", "max_attempts"), m)


def _instruction_moves(spec: Spec, ctx: Context) -> Iterator[Proposal]:
    if ctx.rewrite is None or not ctx.failures:
        return
    for role in _roles(spec):
        if _kind(role) not in ("coder", "planner", "critic"):
            continue
        old = str(role.get("instructions", ""))
        new = ctx.rewrite(role["name"], _kind(role), old, ctx.failures[:3])
        if new and new.strip() != old.strip():
            text = " ".join(new.split())
            yield _set(spec, "instructions", f"roles.{role['name']}.instructions rewritten from "
                       f"{len(ctx.failures[:3])} failures: {text[:80]!r}", (f"role:{role['name']}", "instructions"),
                       text)
        return  # one rewrite per proposal round: each costs a model call


MOVES: dict[str, Callable[[Spec, Context], Iterator[Proposal]]] = {
    "flow": _flow_moves, "roles": _role_moves, "examples": _example_moves, "temperature": _temperature_moves,
    "max_tokens": _max_tokens_moves, "memory": _memory_moves, "sandbox": _sandbox_moves,
    "instructions": _instruction_moves,
}
FAMILIES: tuple[str, ...] = tuple(MOVES)
"""The move families, in the order a search first tries them."""


def moves_of(spec: Spec, ctx: Context, family: str) -> list[Proposal]:
    """Every proposal of ``family`` for ``spec`` (not yet checked: see :func:`checked`)."""
    return list(MOVES[family](spec, ctx))


def checked(proposal: Proposal) -> tuple[TeamSpec | None, list[str]]:
    """The proposal's spec validated, or ``None`` and the problems (``field: what`` lines) that refuse it."""
    try:
        return parse_spec(copy.deepcopy(proposal.spec), f"proposal {proposal.change!r}"), []
    except SpecError as err:
        return None, list(err.problems)
