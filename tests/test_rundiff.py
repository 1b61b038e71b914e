"""Run diff: two transcripts aligned by sender and kind (an edit distance), the first divergence, spend, flips.

The alignment cases use hand-made message lists; the CLI and the Python API diff two scripted runs of the dev
team whose scripts differ in the planner's one reply.
"""

from __future__ import annotations

import doctest
import json
import random
import time

import pytest
from conftest import DEV_SCRIPT
from typer.testing import CliRunner

import studio.rundiff as rundiff
from studio.api.run import Run
from studio.cli import app as cli
from studio.messages import Code, Decision, Execution, Final, Message, Plan, PlanStep, Review, Task, Usage
from studio.rundiff import Flip, Spend, content_of, diff_runs
from studio.runner import RunNotFound, run_team


def _decision(run: str, to: str) -> Decision:
    return Decision(run_id=run, sender="orchestrator", next_speaker=to, instruction=f"Over to {to}.",
                    content=f"next: {to}")


def transcript(run: str, *, code: str = "def f(): return 1", route: str = "coder", extra: bool = False,
               passed: bool = True) -> list[Message]:
    """A small run: task, a decision, the routed worker's message(s), a review and the final."""
    out: list[Message] = [Task(run_id=run, sender="user", content="Write f"), _decision(run, route)]
    if route == "coder":
        out.append(Code(run_id=run, sender="coder", code=code, content=f"```python\n{code}\n```"))
        if extra:  # a second try: code and its run, inserted
            out += [Execution(run_id=run, sender="coder", exit_code=1, failed=1, tests_run=True,
                              failures=["solution.py:test_f: AssertionError"], content="FAILED"),
                    Code(run_id=run, sender="coder", code=code + "  # fixed", content="fixed")]
        out.append(Execution(run_id=run, sender="coder", exit_code=0 if passed else 1, passed=1 if passed else 0,
                             failed=0 if passed else 1, tests_run=True, content="OK" if passed else "FAILED",
                             failures=[] if passed else ["solution.py:test_f: AssertionError"],
                             workspace=f"/tmp/ws/{run}", duration_ms=random.random() * 100))
    else:
        out.append(Plan(run_id=run, sender="planner", steps=[PlanStep(id="s1", description="write f")],
                        content="s1. write f"))
    out += [Review(run_id=run, sender="critic", verdict="approve", feedback="Fine."),
            Final(run_id=run, sender="system", code=code, approved=True, executed=True, exit_code=0 if passed else 1,
                  passed=1 if passed else 0, failed=0 if passed else 1, content="done")]
    return out


def _shape(diff) -> list[tuple[str, int | None, int | None]]:
    return [(p.status, p.a, p.b) for p in diff.pairs]


def test_identical_runs_have_no_divergence_whatever_their_ids_times_and_usage():
    a, b = transcript("a" * 32), transcript("b" * 32)
    b = [m.model_copy(update={"usage": Usage(prompt_tokens=5, latency_ms=3.0)}) for m in b]
    diff = diff_runs(a, b)
    assert diff.identical and diff.first_divergence is None
    assert _shape(diff) == [("same", i, i) for i in range(len(a))]
    assert diff.counts() == {"same": len(a), "changed": 0, "only_a": 0, "only_b": 0}
    assert diff.run_a == "a" * 32 and diff.method == "full"
    assert content_of(a[3])["content"] == "OK" and "workspace" not in content_of(a[3])


def test_an_inserted_message_is_only_in_b_and_everything_after_it_still_pairs():
    a, b = transcript("run-a-000"), transcript("run-b-000", extra=True)
    diff = diff_runs(a, b)
    # B: task, decision, code, [execution, code], execution, review, final: not position by position, so
    # A's execution pairs with B's last one (#6), not with the inserted failing one (#4)
    assert _shape(diff) == [("same", 0, 0), ("same", 1, 1), ("same", 2, 2), ("only_b", None, 3),
                            ("only_b", None, 4), ("same", 3, 5), ("same", 4, 6), ("same", 5, 7)]
    assert diff.first_divergence == 3
    assert (diff.pairs[3].sender, diff.pairs[3].kind, diff.pairs[4].kind) == ("coder", "execution", "code")


def test_a_deleted_message_is_only_in_a():
    a = transcript("run-a-000")
    b = a[:2] + a[3:]
    diff = diff_runs(a, b)
    assert _shape(diff) == [("same", 0, 0), ("same", 1, 1), ("only_a", 2, None), ("same", 3, 2), ("same", 4, 3),
                            ("same", 5, 4)]
    assert diff.first_divergence == 2


def test_a_changed_reply_pairs_as_changed_and_names_its_fields():
    a, b = transcript("run-a-000"), transcript("run-b-000", code="def f(): return 2")
    diff = diff_runs(a, b)
    assert diff.first_divergence == 2
    changed = diff.pairs[2]
    assert (changed.status, changed.a, changed.b, changed.sender, changed.kind) == ("changed", 2, 2, "coder", "code")
    assert set(changed.fields) == {"code", "content"}
    assert [p.status for p in diff.pairs] == ["same", "same", "changed", "same", "same", "changed"]  # final's code
    assert diff.pairs[5].fields == ("code",)


def test_a_different_route_diverges_at_the_decision_and_the_other_sender_is_not_paired():
    a, b = transcript("run-a-000"), transcript("run-b-000", route="planner")
    diff = diff_runs(a, b)
    assert diff.first_divergence == 1
    decision = diff.pairs[1]
    assert decision.status == "changed" and "next_speaker" in decision.fields
    middle = {(p.status, p.sender, p.kind) for p in diff.pairs[2:-2]}
    assert middle == {("only_a", "coder", "code"), ("only_a", "coder", "execution"), ("only_b", "planner", "plan")}
    assert [(p.status, p.kind) for p in diff.pairs[-2:]] == [("same", "review"), ("same", "final")]


def test_messages_of_another_sender_or_kind_never_pair():
    a = [Task(run_id="x", sender="user", content="hi"), Code(run_id="x", sender="coder", code="1")]
    b = [Task(run_id="y", sender="user", content="hi"), Code(run_id="y", sender="tester", code="1")]
    assert _shape(diff_runs(a, b)) == [("same", 0, 0), ("only_a", 1, None), ("only_b", None, 1)]
    assert _shape(diff_runs([], b)) == [("only_b", None, 0), ("only_b", None, 1)]
    assert diff_runs([], []).identical


def _reference_cost(a: list[Message], b: list[Message]) -> int:
    """The least alignment cost, the textbook way (no shared start or end set aside, no band)."""
    sig = [json.dumps(content_of(m), sort_keys=True) for m in a], [json.dumps(content_of(m), sort_keys=True)
                                                                   for m in b]
    n, m = len(a), len(b)
    table = [[i + j if not i * j else 0 for j in range(m + 1)] for i in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            best = min(table[i - 1][j], table[i][j - 1]) + 1
            if (a[i - 1].sender, a[i - 1].kind) == (b[j - 1].sender, b[j - 1].kind):
                best = min(best, table[i - 1][j - 1] + (sig[0][i - 1] != sig[1][j - 1]))
            table[i][j] = best
    return table[n][m]


def _random_run(rng: random.Random, run: str, n: int) -> list[Message]:
    makers = [lambda v: Task(run_id=run, sender="user", content=v),
              lambda v: Code(run_id=run, sender="coder", code=v),
              lambda v: Review(run_id=run, sender="critic", verdict="approve", feedback=v)]
    return [rng.choice(makers)(str(rng.randrange(3))) for _ in range(n)]


def _check_valid(diff, a, b) -> int:
    """Each message once, in order; a pair only of one sender and kind. Returns the alignment's cost."""
    assert [p.a for p in diff.pairs if p.a is not None] == list(range(len(a)))
    assert [p.b for p in diff.pairs if p.b is not None] == list(range(len(b)))
    for p in diff.pairs:
        if p.a is not None and p.b is not None:
            assert (a[p.a].sender, a[p.a].kind) == (b[p.b].sender, b[p.b].kind)
    return sum(p.status != "same" for p in diff.pairs)


@pytest.mark.parametrize("seed", range(30))
def test_the_alignment_is_valid_and_of_least_cost(seed):
    rng = random.Random(seed)
    a, b = _random_run(rng, "run-a-000", rng.randrange(0, 14)), _random_run(rng, "run-b-000", rng.randrange(0, 14))
    diff = diff_runs(a, b)
    assert _check_valid(diff, a, b) == _reference_cost(a, b)


def test_past_the_full_table_the_band_still_aligns_validly(monkeypatch):
    rng = random.Random(7)
    a, b = _random_run(rng, "run-a-000", 120), _random_run(rng, "run-b-000", 150)
    monkeypatch.setattr(rundiff, "FULL_CELLS", 2000)
    diff = diff_runs(a, b)
    assert diff.method == "banded"
    assert _check_valid(diff, a, b) <= _reference_cost(a, b) * 1.1


def test_two_thousand_by_two_thousand_messages_in_well_under_a_second_of_work():
    rng = random.Random(1)
    a, b = _random_run(rng, "run-a-000", 2000), _random_run(rng, "run-b-000", 2000)
    start = time.perf_counter()
    diff = diff_runs(a, b)
    took = time.perf_counter() - start
    _check_valid(diff, a, b)
    assert took < 3.0, f"{took:.2f}s (under 1 s on an idle machine; this one is shared)"
    near = a[:1990] + [Task(run_id="run-b-000", sender="user", content="other")] + a[1990:]
    start = time.perf_counter()
    assert diff_runs(a, near).first_divergence == 1990
    assert time.perf_counter() - start < 1.0  # the shared start and end are set aside: little left to align


def test_per_role_spend_and_its_delta():
    def spent(m: Message, tokens: int, cost: float, ms: float) -> Message:
        return m.model_copy(update={"usage": Usage(prompt_tokens=tokens, completion_tokens=1, cost_usd=cost,
                                                   latency_ms=ms, calls=1)})

    a = [spent(m, 10, 0.01, 100.0) if m.sender == "coder" else m for m in transcript("run-a-000")]
    b = [spent(m, 30, 0.02, 50.0) if m.sender in ("coder", "critic") else m
         for m in transcript("run-b-000", extra=True)]
    roles = {r.role: r for r in diff_runs(a, b).roles}
    assert list(roles) == ["user", "orchestrator", "coder", "critic", "system"]
    assert roles["coder"].a == Spend(tokens=22, cost_usd=0.02, latency_ms=200.0, calls=2, messages=2)
    assert roles["coder"].b.tokens == 4 * 31 and roles["coder"].b.messages == 4
    assert roles["coder"].delta == Spend(tokens=124 - 22, cost_usd=0.06, latency_ms=0.0, calls=2, messages=2)
    assert roles["critic"].delta.tokens == 31 and roles["critic"].delta.cost_usd == 0.02
    assert roles["user"].delta == Spend(messages=0)
    data = diff_runs(a, b).as_dict()
    assert data["roles"][2]["delta"]["tokens"] == 102 and data["roles"][2]["role"] == "coder"


def test_test_outcome_flips_both_ways():
    good, bad = transcript("run-a-000"), transcript("run-b-000", passed=False)
    diff = diff_runs(good, bad, status_a="done", status_b="unsolved")
    assert diff.flips == (Flip("run", "passed", "failed"), Flip("final", "passed", "failed"),
                          Flip("test solution.py:test_f", "passed", "failed"))
    assert all(f.broke for f in diff.flips)
    fixed = diff_runs(bad, good, status_a="unsolved", status_b="done")
    assert [(f.subject, f.a, f.b, f.broke) for f in fixed.flips][-1] == ("test solution.py:test_f", "failed",
                                                                         "passed", False)
    assert diff_runs(good, transcript("run-c-000"), status_a="done", status_b="done").flips == ()
    assert diff_runs(good, bad).flips[0].subject == "final"  # no status given: no run flip


def test_as_dict_is_one_json_object():
    diff = diff_runs(transcript("run-a-000"), transcript("run-b-000", route="planner"))
    data = json.loads(json.dumps(diff.as_dict()))
    assert data["first_divergence"] == 1 and data["identical"] is False
    assert data["pairs"][1] == {"status": "changed", "a": 1, "b": 1, "sender": "orchestrator", "kind": "decision",
                                "fields": ["content", "next_speaker", "instruction"]}
    assert set(data) == {"run_a", "run_b", "identical", "first_divergence", "method", "counts", "pairs", "roles",
                         "flips"}


def test_the_examples_in_the_docstrings_run():
    assert doctest.testmod(rundiff).failed == 0


# --- the CLI and the Python API, on two scripted runs of the dev team --------------------------------------

def _huddle(*args: str):
    out = CliRunner().invoke(cli, list(args), env={"COLUMNS": "220"})
    assert "Traceback" not in out.output
    return out


def test_cli_diff_marks_the_changed_plan_as_the_first_divergence(two_runs):
    a, b = two_runs
    out = _huddle("runs", "diff", a[:10], b[:10])
    assert out.exit_code == 0, out.output
    assert f"A run {a} · dev-team · done" in out.output and f"B run {b}" in out.output
    assert "first divergence: pair 3, A #3 vs B #3, planner · plan (content, steps differ)" in out.output
    assert ">~ │ #3 planner · plan: s1. Write fizzbuzz(n) returning the string for n" in out.output
    assert "#3 planner · plan: s1. Write fizzbuzz(n) for any n" in out.output
    assert "=  │ #1 user · task: Write fizzbuzz" in out.output
    assert "Per role (B - A)" in out.output and "test outcomes: no flips" in out.output
    planner = next(line for line in out.output.splitlines() if line.startswith("│ planner"))
    assert "$0.0000" in planner

    data = json.loads(_huddle("runs", "diff", a, b, "--json").output)
    assert (data["run_a"], data["run_b"], data["first_divergence"]) == (a, b, 2)
    assert data["pairs"][2]["status"] == "changed" and data["pairs"][2]["sender"] == "planner"
    assert [p["status"] for p in data["pairs"][:2]] == ["same", "same"]
    assert (data["status_a"], data["status_b"], data["flips"]) == ("done", "done", [])
    planner_row = next(r for r in data["roles"] if r["role"] == "planner")
    assert planner_row["delta"]["tokens"] == planner_row["b"]["tokens"] - planner_row["a"]["tokens"]

    same = json.loads(_huddle("runs", "diff", a, a, "--json").output)
    assert same["identical"] and same["first_divergence"] is None
    assert "no divergence" in _huddle("runs", "diff", a, a).output

    api = Run.load(a).diff(b[:12])
    assert api.first_divergence == 2 and api.as_dict()["pairs"] == data["pairs"]
    assert Run.load(b).diff(Run.load(a)).pairs[2].status == "changed"
    with pytest.raises(RunNotFound, match="no run 'nope'"):
        Run.load(a).diff("nope")


def test_cli_diff_of_a_run_not_in_the_log_exits_2_naming_it(dev_team):
    run = run_team(dev_team, "Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}")
    for args in ((run.run_id, "zzz"), ("zzz", run.run_id)):
        out = _huddle("runs", "diff", *args)
        assert out.exit_code == 2
        assert "error: no run 'zzz' in the run log (or the prefix is ambiguous)" in out.output
    assert _huddle("runs", "diff", "zzz", "yyy", "--json").exit_code == 2
