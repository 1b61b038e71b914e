"""The collaboration flows end to end on scripted models: magentic, parallel_plan, best_of_n, cross_team."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _replies import approve, code, revise
from conftest import ROOT, hashed

from studio.llm import Gateway
from studio.messages import Code, Decision, Execution, Final, Ledger, Plan, Ranking
from studio.runner import run_team
from studio.spec import load_spec

EXAMPLES = ROOT / "examples"


def example(name: str, **flow):
    spec = hashed(load_spec(EXAMPLES / "teams" / f"{name}.yaml"))
    if flow:
        spec = spec.model_copy(update={"flow": spec.flow.model_copy(update=flow)})
    return spec


def scripted(name: str) -> str:
    return f"scripted:{EXAMPLES / 'scripts' / f'{name}.yaml'}"


def prompts(gateway: Gateway, model: str, key: str) -> list[str]:
    """The last user message of each call made as ``key`` (a role, or ``role.branch``)."""
    return [c.messages[-1]["content"] for c in gateway.script(model).calls if c.role == key]


def main_line(result):
    return [m for m in result.messages if not m.branch and m.kind != "reflection"]


def progress(speaker: str, *, progress: bool = True, loop: bool = False) -> str:
    return json.dumps({"is_request_satisfied": False, "is_in_loop": loop, "is_progress_being_made": progress,
                       "next_speaker": speaker, "instruction_or_question": f"{speaker}, go on."})


def ledger(*plan: str, reflection: str = "") -> str:
    return json.dumps({"facts_given": ["the task"], "facts_to_look_up": [], "facts_to_derive": [],
                       "educated_guesses": [], "plan": list(plan), "reflection": reflection})


# -- magentic -------------------------------------------------------------------------------------------------

PALINDROME = "Write is_palindrome(s), ignoring case and spaces.\nassert is_palindrome('Never odd or even')"


def test_magentic_stalls_trigger_a_reflection_and_a_new_ledger(home):
    gateway, model = Gateway(), scripted("magentic_team")
    result = run_team(example("magentic_team"), PALINDROME, model=model, gateway=gateway)
    assert result.status == "done", result.error
    kinds = [m.kind for m in main_line(result)]
    assert kinds == ["task", "ledger", "decision", "code", "execution", "decision", "code", "execution", "decision",
                     "ledger", "decision", "code", "execution", "decision", "review", "final"]
    first, second = [m for m in result.messages if isinstance(m, Ledger)]
    assert (first.replan, second.replan) == (0, 1)
    assert first.plan == ["coder: write is_palindrome", "critic: review it with the test result"]
    assert "case and spaces were never removed" in second.reflection
    # The rewrite came right after the second turn without progress (max_stalls: 2), not before.
    decisions = [m for m in main_line(result) if isinstance(m, Decision)]
    assert [(d.is_progress_being_made, d.is_in_loop) for d in decisions[:3]] == [(True, False), (False, False),
                                                                               (False, True)]
    # The orchestrator reflected with the evidence: the ledger prompt shows the failed runs, and says it is stuck.
    ledger_prompts = [c.messages for c in gateway.script(model).calls if c.role == "orchestrator"
                      and "The team is stuck" in c.messages[0]["content"]]
    assert len(ledger_prompts) == 1
    assert "FAILED" in ledger_prompts[0][-1]["content"] and "The ledger so far" in ledger_prompts[0][-1]["content"]
    # The coder worked from the new plan.
    assert "lower-case the text and drop spaces" in prompts(gateway, model, "coder")[-1]
    assert result.final.approved and "replace(\" \", \"\")" in result.final.code
    gateway.script(model).assert_complete()


def test_magentic_gives_up_stalled_when_no_replan_is_left(script, home):
    model = script({
        "orchestrator": [ledger("coder: write it"), progress("coder", progress=False),
                         progress("coder", progress=False, loop=True)],
        "coder": [code("def is_palindrome(s):\n    return False"), code("def is_palindrome(s):\n    return None")],
    })
    result = run_team(example("magentic_team", max_replans=0), PALINDROME, model=model)
    # the code fails the task's example: the run is unsolved, and its summary still says why it stopped
    assert result.status == "unsolved"
    assert sum(isinstance(m, Ledger) for m in result.messages) == 1
    assert result.final.stop_reason == "unsolved" and not result.final.approved
    assert "Stalled 2 times after 0 replans; the code fails 1 of 1 of the task's tests." in result.final.content


def test_magentic_progress_lowers_the_stall_counter(script, home):
    """Stuck, progress, stuck: the counter went 1, 0, 1, so max_stalls 2 is never reached and no replan happens."""
    model = script({
        "orchestrator": [ledger("coder: write it"), progress("coder", progress=False), progress("coder"),
                         progress("coder", progress=False), progress("critic")],
        "coder": [code("def is_palindrome(s):\n    return False")] * 2
                 + [code("def is_palindrome(s):\n    t = s.lower().replace(' ', '')\n    return t == t[::-1]")],
        "critic": [approve()],
    })
    result = run_team(example("magentic_team"), PALINDROME, model=model)
    assert result.final.approved
    assert sum(isinstance(m, Ledger) for m in result.messages) == 1


# -- parallel_plan --------------------------------------------------------------------------------------------

SUMMARY = ("Write slugify(text) and word_count(text), then summary(text) returning 'slug (N words)'.\n"
           "assert summary('Hello big World') == 'hello-big-world (3 words)'")


def spans(result) -> dict[str, tuple[float, float]]:
    """Per step branch: when it was dispatched, and when its last message was made."""
    out: dict[str, tuple[float, float]] = {}
    for m in result.messages:
        if m.branch:
            t = m.created_at.timestamp()
            start, end = out.get(m.branch, (t, t))
            out[m.branch] = (min(start, t), max(end, t))
    return out


def test_parallel_plan_runs_ready_steps_at_once_and_waits_for_dependencies(home):
    gateway, model = Gateway(), scripted("parallel_team")
    result = run_team(example("parallel_team"), SUMMARY, model=model, gateway=gateway)
    assert result.status == "done", result.error
    plan = next(m for m in result.messages if isinstance(m, Plan))
    times = spans(result)
    assert set(times) == {"s1", "s2", "s3"}
    for step in plan.steps:  # no step starts before every step it depends on has finished
        for dep in step.depends_on:
            assert times[step.id][0] >= times[dep][1], f"{step.id} started before {dep} finished"
    # s1 and s2 have no dependencies: both started before either finished (each model call takes 0.3 s).
    assert times["s2"][0] < times["s1"][1] and times["s1"][0] < times["s2"][1]
    # Each step ran on its own coder, which saw the code of the steps it depends on.
    s3_prompt = prompts(gateway, model, "coder.s3")[0]
    assert "Do step s3 of the plan only" in s3_prompt and "def slugify" in s3_prompt and "def word_count" in s3_prompt
    joined = next(m for m in main_line(result) if isinstance(m, Code))
    assert all(f"def {name}" in joined.code for name in ("slugify", "word_count", "summary"))
    ran = next(m for m in main_line(result) if isinstance(m, Execution))
    assert ran.parent_id == joined.id and ran.ok and ran.passed == 3  # two test functions and the task's assert
    assert result.final.approved and result.final.passed == 3
    gateway.script(model).assert_complete()


def test_parallel_plan_replans_when_a_step_fails(script, home):
    first = json.dumps({"steps": [{"id": "s1", "description": "Write double(x)", "depends_on": []},
                                  {"id": "s2", "description": "Write quad(x) with double", "depends_on": ["s1"]}]})
    second = json.dumps({"steps": [{"id": "s1", "description": "Write quad(x) = 4 * x", "depends_on": []}]})
    model = script({
        "planner": [first, second],
        "coder.s1": [code("def double(x):\n    return x + 2\n\nassert double(3) == 6"),
                     code("def quad(x):\n    return 4 * x")],
        "critic": [approve()],
    })
    spec = example("parallel_team")
    spec = spec.model_copy(update={"sandbox": spec.sandbox.model_copy(update={"max_attempts": 1})})
    gateway = Gateway()
    result = run_team(spec, "Write quad(x).\nassert quad(2) == 8", model=model, gateway=gateway)
    assert result.status == "done", result.error
    replan = next(m for m in main_line(result) if isinstance(m, Decision))
    assert replan.next_speaker == "planner" and "s1 (Write double(x))" in replan.content
    planner_prompts = prompts(gateway, model, "planner")
    assert "These steps failed: s1 (Write double(x))" in planner_prompts[1]
    assert not any(m.branch == "s2" for m in result.messages)  # s2 waited on s1, which failed: it never ran
    assert result.final.approved and "4 * x" in result.final.code
    gateway.script(model).assert_complete()


def test_parallel_plan_steps_in_waves_over_a_diamond(script, home):
    steps = [("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])]
    plan_reply = json.dumps({"steps": [{"id": i, "description": f"write {i}", "depends_on": d} for i, d in steps]})
    replies = {f"coder.{i}": [{"content": code(f"def {i}():\n    return '{i}'"), "delay_s": 0.2}] for i, _ in steps}
    model = script({"planner": [plan_reply], **replies, "critic": [approve()]})
    result = run_team(example("parallel_team"), "Write a, b, c and d.\nassert d() == 'd'", model=model)
    assert result.final.approved, result.error
    times = spans(result)
    for step, deps in steps:
        assert all(times[step][0] >= times[dep][1] for dep in deps)
    assert times["c"][0] < times["b"][1]  # b and c ran at once


# -- best_of_n ------------------------------------------------------------------------------------------------

FIZZ = "Write fizzbuzz(n).\nassert fizzbuzz(15) == 'FizzBuzz'\nassert fizzbuzz(7) == '7'"


def test_best_of_n_continues_with_the_candidate_whose_tests_pass(home):
    gateway, model = Gateway(), scripted("best_of_n_team")
    result = run_team(example("best_of_n_team"), FIZZ, model=model, gateway=gateway)
    assert result.status == "done", result.error
    runs = {m.branch: m for m in result.messages if isinstance(m, Execution) and m.branch}
    assert {b: r.ok for b, r in runs.items()} == {"c1": False, "c2": True, "c3": False}
    ranking = next(m for m in result.messages if isinstance(m, Ranking))
    assert ranking.chosen == "c2" and ranking.order[0] == "c2"
    # The critic ranked with the evidence: every candidate's code and run were in its one prompt.
    (critic_prompt,) = prompts(gateway, model, "critic")
    assert all(f"Candidate c{i}" in critic_prompt for i in (1, 2, 3)) and "KeyError" in critic_prompt
    chosen = next(m for m in main_line(result) if isinstance(m, Code))
    assert "or str(n)" in chosen.code and chosen.parent_id in {m.id for m in result.messages if m.branch == "c2"}
    assert result.final.approved and result.final.code == chosen.code and result.final.passed == 2
    gateway.script(model).assert_complete()


def test_best_of_n_evidence_overrules_a_pick_that_fails(script, home):
    model = script({
        "coder.c1": [code("def fizzbuzz(n):\n    return ''")],
        "coder.c2": [code("def fizzbuzz(n):\n    return 'Fizz' * (n % 3 == 0) + 'Buzz' * (n % 5 == 0) or str(n)")],
        "coder.c3": [code("def fizzbuzz(n):\n    return None")],
        "critic": [json.dumps({"best": "c1", "verdict": "approve", "feedback": "c1 is shortest.", "lessons": []})],
    })
    result = run_team(example("best_of_n_team"), FIZZ, model=model)
    ranking = next(m for m in result.messages if isinstance(m, Ranking))
    assert ranking.chosen == "c2" and "c1 was picked, but its run failed while c2's passed" in ranking.reason
    assert result.final.approved and "or str(n)" in result.final.code


def test_the_critic_compares_distinct_candidates_at_most_eight_and_always_the_best(script, home):
    """Ten candidates: three copies of one wrong code, six other wrong ones, the right one last. The ranking
    prompt shows each code once and at most eight (a small model's context holds no more), the best among them."""
    wrong = ["def fizzbuzz(n):\n    return ''"] * 3 + [f"def fizzbuzz(n):\n    return '{i}'" for i in range(6)]
    right = "def fizzbuzz(n):\n    return 'Fizz' * (n % 3 == 0) + 'Buzz' * (n % 5 == 0) or str(n)"
    replies = {f"coder.c{i}": [code(text)] for i, text in enumerate([*wrong, right], start=1)}
    gateway, model = Gateway(), script({**replies, "critic": [
        json.dumps({"best": "c10", "verdict": "approve", "feedback": "c10 passes.", "lessons": []})]})
    result = run_team(example("best_of_n_team", candidates=10), FIZZ, model=model, gateway=gateway)
    (prompt,) = prompts(gateway, model, "critic")
    shown = [i for i in range(1, 11) if f"Candidate c{i}:" in prompt]
    assert len(shown) == 8 and 10 in shown and len({1, 2, 3} & set(shown)) == 1
    assert "(2 more candidates are not shown: copies of these, or worse runs.)" in prompt
    ranking = next(m for m in result.messages if isinstance(m, Ranking))
    assert ranking.chosen == "c10" and len(ranking.order) == 10 and result.final.approved


def test_best_of_n_revises_the_best_candidate_on_the_main_line(script, home):
    model = script({
        "coder.c1": [code("def fizzbuzz(n):\n    return str(n)")],
        "coder.c2": [code("def fizzbuzz(n):\n    return ''")],
        "coder.c3": [code("def fizzbuzz(n):\n    return None")],
        "critic": [json.dumps({"best": "c1", "verdict": "revise", "feedback": "Handle 15.", "lessons": []}),
                   approve()],
        "coder": [code("def fizzbuzz(n):\n    return 'Fizz' * (n % 3 == 0) + 'Buzz' * (n % 5 == 0) or str(n)")],
    })
    gateway = Gateway()
    result = run_team(example("best_of_n_team"), FIZZ, model=model, gateway=gateway)
    assert result.final.approved, result.error
    (revision_prompt,) = prompts(gateway, model, "coder")
    assert "return str(n)" in revision_prompt and "Handle 15." in revision_prompt  # c1 (1 of 2 passed) continued
    kinds = [m.kind for m in main_line(result)]
    assert kinds == ["task", "ranking", "code", "execution", "review", "code", "execution", "review", "final"]


# -- cross_team -----------------------------------------------------------------------------------------------

MEDIAN = "Write median(xs) for a non-empty list.\nassert median([3, 1, 2]) == 2\nassert median([4, 1, 3, 2]) == 2.5"


def test_cross_team_judge_sees_every_sub_team_and_merges(home):
    gateway, model = Gateway(), scripted("cross_team")
    result = run_team(example("cross_team"), MEDIAN, model=model, gateway=gateway)
    assert result.status == "done", result.error
    finals = {m.branch: m for m in result.messages if isinstance(m, Final) and m.branch}
    assert set(finals) == {"red", "blue"} and all(f.approved for f in finals.values())
    # The sub-teams worked independently: neither one's prompts held the other's code.
    assert not any("statistics" in p for p in prompts(gateway, model, "red_coder.red"))
    (judge_prompt,) = prompts(gateway, model, "judge")
    assert "Sub-team red (approved by its reviewer)" in judge_prompt and "ys[mid - 1]" in judge_prompt
    assert "Sub-team blue (approved by its reviewer)" in judge_prompt and "statistics.median" in judge_prompt
    ranking = next(m for m in result.messages if isinstance(m, Ranking))
    assert ranking.chosen == "merged"
    assert result.final.stop_reason == "chosen" and "raise ValueError" in result.final.code
    assert result.final.passed == 2 and "chose a merge of the sub-teams' code" in result.final.content
    gateway.script(model).assert_complete()


def test_cross_team_merge_that_runs_worse_is_not_chosen(script, home):
    good = ("def median(xs):\n    ys = sorted(xs)\n    m = len(ys) // 2\n"
            "    return ys[m] if len(ys) % 2 else (ys[m-1] + ys[m]) / 2")
    model = script({
        "red_coder": [code(good)], "red_critic": [approve()],
        "blue_coder": [code("def median(xs):\n    return 0")] * 3, "blue_critic": [revise("wrong")],
        "judge": [json.dumps({"best": "blue", "reason": "shorter"})
                  + "\n```python\ndef median(xs):\n    return xs[0]\n```"],
    })
    result = run_team(example("cross_team", max_rounds=2), MEDIAN, model=model)
    ranking = next(m for m in result.messages if isinstance(m, Ranking))
    assert ranking.chosen == "red"  # blue was picked, but failed; the merge failed too
    assert "blue was picked, but its run failed" in ranking.reason and "ran worse" in ranking.reason
    assert result.final.code.strip() == good and result.final.passed == 2


@pytest.mark.parametrize("name", ["magentic_team", "parallel_team", "best_of_n_team", "cross_team",
                                  "approval_team"])
def test_example_teams_validate(name):
    spec = load_spec(EXAMPLES / "teams" / f"{name}.yaml")
    assert spec.flow.type == {"magentic_team": "magentic", "parallel_team": "parallel_plan",
                              "best_of_n_team": "best_of_n", "cross_team": "cross_team",
                              "approval_team": "sequential"}[name]
    assert Path(EXAMPLES / "scripts" / f"{name}.yaml").is_file()


def test_magentic_without_edges_falls_back_to_the_next_role_in_order(script, home):
    """Done too early (nothing reviewed yet): the orchestrator's fallback is the role listed after the coder."""
    satisfied = json.dumps({"is_request_satisfied": True, "is_in_loop": False, "is_progress_being_made": True,
                            "next_speaker": "coder", "instruction_or_question": "Done."})
    model = script({
        "orchestrator": [ledger("coder: write it"), progress("coder"), satisfied],
        "coder": [code("def is_palindrome(s):\n    t = s.lower().replace(' ', '')\n    return t == t[::-1]")],
        "critic": [approve()],
    })
    result = run_team(example("magentic_team"), PALINDROME, model=model)
    decisions = [m for m in result.messages if isinstance(m, Decision)]
    assert decisions[-1].next_speaker == "critic" and not decisions[-1].is_request_satisfied
    assert result.final.approved


def test_branches_share_the_provider_limit_and_record_their_queue_time(home):
    """One scripted call at a time for the whole process: the steps' calls queue, and say so on their messages."""
    from studio.llm.schedule import Scheduler
    from studio.spec import ProviderLimits

    spec = example("parallel_team")
    gateway = Gateway(8, limits={"scripted": ProviderLimits(max_concurrency=1)}, scheduler=Scheduler(environ={}))
    result = run_team(spec, SUMMARY, model=scripted("parallel_team"), gateway=gateway)
    assert result.final.approved, result.error
    first_wave = [m for m in result.messages if isinstance(m, Code) and m.branch in ("s1", "s2")]
    # Each of s1 and s2 takes 0.3 s: whichever went second waited for the first.
    assert max(m.usage.queue_ms for m in first_wave) >= 250
    assert min(m.usage.queue_ms for m in first_wave) < 250
    # one after the other: the second reply came a whole call after the first (the code messages are made
    # when the replies arrive; a branch's later messages also wait on its sandbox run, slower on a busy machine)
    first, second = sorted(m.created_at.timestamp() for m in first_wave)
    assert second - first >= 0.25
