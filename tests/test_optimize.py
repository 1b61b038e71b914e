"""``huddle optimize`` and ``studio.optimize``: the search, its journal, the held-out split, the CLI's errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from _procs import ctrl_c_as_in_a_terminal
from typer.testing import CliRunner

from studio.bus.sqlite import RunLog
from studio.cli.app import app
from studio.eval import EvalTask
from studio.llm import Gateway
from studio.llm.scripted import ScriptedModel
from studio.optimize import OptimizeError, optimize, split_tasks
from studio.optimize.journal import Journal
from studio.optimize.rewrite import rewriter
from studio.optimize.space import Context, Proposal, checked, moves_of
from studio.spec import parse_spec

_FILE = Path(tempfile.mkdtemp()) / "responder.yaml"
_FILE.write_text("{}\n")  # the model string must name a script file; the gateway serves the Responder for it
MODEL = f"scripted:{_FILE}"
TASK_RE = re.compile(r"function (\w+)\(x\) that returns x plus (\d+)")


class Responder(ScriptedModel):
    """A scripted model that answers from the prompt: candidates of a best_of_n flow are right, a lone coder not."""

    def __init__(self) -> None:
        super().__init__({}, source="responder")

    def reply(self, role, messages, *, on_piece=None) -> str:
        text = "\n".join(str(m.get("content") or "") for m in messages)
        name, plus = TASK_RE.findall(text)[-1] if TASK_RE.search(text) else ("f", "0")
        if role.startswith(("coder", "baseline")):
            body = f"x + {plus}" if role.startswith("coder.") else "x"  # only a candidate branch (coder.c2) is right
            return f"```python\ndef {name}(x):\n    return {body}\n```"
        if role.startswith("critic"):
            return '{"best": "c1", "verdict": "approve", "feedback": "fine", "lessons": []}'
        if role.startswith("planner"):
            return '{"steps": [{"id": "s1", "description": "Write the function", "depends_on": []}]}'
        if role == "optimizer":
            return "Write exactly the function asked for. Return the value the task names."
        raise AssertionError(f"no reply for {role}")


def tasks(n: int = 8) -> list[EvalTask]:
    return [EvalTask(id=f"p{k}", entry_point=f"plus{k}", prompt=f"Write a Python function plus{k}(x) that returns "
                     f"x plus {k}.", tests=[f"assert plus{k}(1) == {1 + k}", f"assert plus{k}(0) == {k}"])
            for k in range(1, n + 1)]


def pair(**changes) -> dict:
    spec = {"version": 1, "name": "pair", "defaults": {"model": MODEL, "max_tokens": 128},
            "roles": [{"name": "coder", "kind": "coder", "writes_tests": False}, {"name": "critic", "kind": "critic"}],
            "flow": {"edges": [{"from": "coder", "to": "critic"}, {"from": "critic", "to": "coder"}], "max_rounds": 2},
            "memory": {"enabled": False}, "sandbox": {"max_attempts": 1}}
    return {**spec, **changes}


def gateway() -> Gateway:
    gate = Gateway(4)
    gate.scripts[MODEL] = Responder()
    return gate


def search(out: Path, home: Path, budget: int = 6000, **kw):
    return optimize(parse_spec(pair()), tasks(), out, home=home, gateway=gateway(), budget_tokens=budget, **kw)


def test_the_search_finds_the_better_flow_and_never_runs_a_held_out_task_before_the_end(tmp_path, home):
    report = search(tmp_path / "out", home)
    assert report.start.passed == 0 and report.chosen.passed == report.chosen.tasks == 4
    assert report.team.flow.type == "best_of_n" and "best_of_n" in report.diff
    assert report.held_out["chosen"].passed == 4 and report.held_out["start"].passed == 0
    assert set(report.held_out) == {"chosen", "start", "single-call", "sample-vote"}
    assert report.held_out["sample-vote"].tokens <= report.held_out["chosen"].tokens  # its budget is the team's
    held = {t.id for t in tasks()} - set(report.search_tasks)
    assert held == set(report.held_out_tasks) and len(held) == 4
    # The run log: every run on a held-out prompt is one the held-out grading made, after the last search run.
    journal = [json.loads(line) for line in (tmp_path / "out" / "journal.jsonl").read_text().splitlines()]
    searched = {line["run_id"] for line in journal if line["kind"] == "eval"}
    graded = {line["run_id"] for line in journal if line["kind"] == "held_out"}
    prompts = {t.prompt: t.id for t in tasks()}
    log = RunLog(home / "runs.db")
    runs = log.runs(limit=1000)
    assert {r.run_id for r in runs} == searched | graded
    last_search = max(r.created_at for r in runs if r.run_id in searched)
    for run in runs:
        if prompts.get(run.task) in held:
            assert run.run_id in graded and run.created_at >= last_search
        else:
            assert run.run_id in searched
    # Every variant the search graded validates, and the report files are there.
    variants = [line for line in journal if line["kind"] == "variant"]
    assert len(variants) >= 3 and all(parse_spec(v["spec_data"]) for v in variants)
    assert {p.name for p in report.paths.values()} >= {"report.md", "report.json", "front.png", "journal.jsonl"}
    assert "| chosen | 4 / 4 |" in report.paths["report"].read_text()


def test_an_interrupted_search_resumes_without_grading_anything_twice(tmp_path, home):
    firsts: dict[str, list[str]] = {}

    def first_generation(name: str):
        def event(kind, **info) -> None:
            if kind == "generation" and info["number"] == 1:
                firsts[name] = info["proposals"]
        return event

    search(tmp_path / "whole", tmp_path / "h1", on_event=first_generation("whole"))
    seen = {"n": 0}

    def stop_after_five(kind, **info) -> None:
        if kind == "graded":
            seen["n"] += 1
            if seen["n"] == 5:  # the starting team's four, and the first proposal's first task
                raise KeyboardInterrupt
        first_generation("cut")(kind, **info)

    with pytest.raises(KeyboardInterrupt):
        search(tmp_path / "cut", home, on_event=stop_after_five)
    before = len(Journal(tmp_path / "cut" / "journal.jsonl", _header(tmp_path / "cut")).evals)
    assert before == 5 and firsts["cut"] == firsts["whole"]
    graded: list[tuple[str, str]] = []

    def resumed(kind, **info) -> None:
        if kind == "graded":
            graded.append((info["variant"], info["task"]))
        first_generation("resumed")(kind, **info)

    report = search(tmp_path / "cut", home, on_event=resumed)
    after = Journal(tmp_path / "cut" / "journal.jsonl", _header(tmp_path / "cut")).evals
    assert len(graded) == len(after) - before > 0 and not set(graded) & set(list(after)[:before])
    # The resumed search replays its decisions: the same first generation, from the journal's grades.
    assert firsts["resumed"] == firsts["whole"] and report.start.passed == 0


def _header(out: Path) -> dict:
    return {k: v for k, v in json.loads((out / "journal.jsonl").read_text().splitlines()[0]).items() if k != "kind"}


def test_a_proposal_that_fails_validation_is_logged_and_skipped(tmp_path, home):
    start = pair(roles=[{"name": "planner", "kind": "planner"}, *pair()["roles"]], approval=["after_plan"],
                 flow={"edges": [{"from": "planner", "to": "coder"}, {"from": "coder", "to": "critic"},
                                 {"from": "critic", "to": "coder"}], "max_rounds": 3})
    report = optimize(parse_spec(start), tasks(4), tmp_path / "out", home=home, gateway=gateway(), budget_tokens=3000)
    refused = [json.loads(line) for line in (tmp_path / "out" / "journal.jsonl").read_text().splitlines()
               if '"rejected"' in line]
    assert any("without planner" in r["change"] and any("after_plan" in p for p in r["problems"]) for r in refused)
    assert report.rejected == len(refused)
    assert all(v.change != r["change"] for v in report.evaluated for r in refused)


def test_every_move_of_every_family_on_the_example_teams_validates_or_is_refused_with_reasons():
    root = Path(__file__).resolve().parents[1] / "examples" / "teams"
    ctx = Context(solved=[("Write inc(x).", "def inc(x):\n    return x + 1")], failures=[("Write f.", "wrong")],
                  rewrite=lambda *a: "Check the edge cases first.")
    count = 0
    for path in sorted(root.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        for family in ("flow", "roles", "examples", "temperature", "max_tokens", "memory", "sandbox", "instructions"):
            for proposal in moves_of(data, ctx, family):
                spec, problems = checked(proposal)
                assert (spec is None) == bool(problems), proposal.change
                count += 1
        assert data == yaml.safe_load(path.read_text())  # moves never edit the spec they start from
    assert count > 100


def test_the_split_is_seeded_and_leaves_two_on_each_side():
    four = tasks(4)
    assert [len(part) for part in split_tasks(four, 0.9)] == [2, 2]
    assert split_tasks(tasks(), 0.5, seed=3) == split_tasks(tasks(), 0.5, seed=3)
    with pytest.raises(OptimizeError, match="at least 4 tasks"):
        split_tasks(tasks(3))


def test_balanced_gives_up_a_task_only_for_a_real_saving_of_tokens():
    from studio.optimize.front import choose
    from studio.optimize.search import Stats

    start = Stats("start", 3, 16, 16 * 7196, 1, 0)
    nine = Stats("nine", 9, 16, 16 * 6333, 1, 0)  # the 3-hour search's case: one task less for 2% fewer tokens
    ten = Stats("ten", 10, 16, 16 * 6456, 1, 0)
    assert choose([start, nine, ten], start, "balanced").hash == "ten"
    half = Stats("half", 9, 16, 16 * 3000, 1, 0)  # one task less for half the tokens
    assert choose([start, half, ten], start, "balanced").hash == "half"
    eight = Stats("eight", 8, 16, 16 * 1000, 1, 0)  # two tasks less is past the tolerance, however cheap
    assert choose([start, eight, ten], start, "balanced").hash == "ten"
    assert choose([start, eight, ten], start, "cost").hash == "eight"


def test_a_journal_of_another_search_is_refused(tmp_path, home):
    search(tmp_path / "out", home, budget=400)
    with pytest.raises(OptimizeError, match="differs in: seed"):
        search(tmp_path / "out", home, budget=400, seed=7)


def _write_tasks(path: Path, n: int) -> Path:
    path.write_text("".join(t.model_dump_json() + "\n" for t in tasks(n)))
    return path


@pytest.mark.parametrize(("args", "message"), [
    (["--budget-tokens", "0"], "--budget-tokens: expected a number of tokens above 0, got 0"),
    (["--budget-hours", "-1"], "--budget-hours: expected a number of hours above 0"),
    (["--budget-tokens", "10", "--prefer", "fast"], "--prefer: expected one of accuracy, cost, balanced, got 'fast'"),
    (["--budget-tokens", "10", "--split", "1.5"], "--split: expected the search split's share"),
    ([], "give a budget: --budget-tokens N"),
])
def test_cli_bad_flags_exit_2_naming_the_flag(tmp_path, args, message):
    team = tmp_path / "team.yaml"
    team.write_text(yaml.safe_dump(pair(defaults={"model": "scripted:" + str(tmp_path / "s.yaml")})))
    (tmp_path / "s.yaml").write_text("coder: []\n")
    result = CliRunner().invoke(app, ["optimize", str(team), str(_write_tasks(tmp_path / "t.jsonl", 6)),
                                      "-o", str(tmp_path / "better.yaml"), *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_cli_too_few_tasks_exit_2_naming_the_file(tmp_path):
    team = tmp_path / "team.yaml"
    team.write_text(yaml.safe_dump(pair(defaults={"model": "scripted:" + str(tmp_path / "s.yaml")})))
    (tmp_path / "s.yaml").write_text("coder: []\n")
    tasks_file = _write_tasks(tmp_path / "t.jsonl", 3)
    result = CliRunner().invoke(app, ["optimize", str(team), str(tasks_file), "-o", str(tmp_path / "b.yaml"),
                                      "--budget-tokens", "100"])
    assert result.exit_code == 2 and f"{tasks_file}: 3 task(s); a search needs at least 4" in result.output


def test_cli_writes_the_chosen_team_and_the_report(tmp_path, monkeypatch):
    monkeypatch.setenv("HUDDLE_HOME", str(tmp_path / "home"))
    right = "```python\ndef f(x):\n    return x\n```"
    script = tmp_path / "s.yaml"
    script.write_text(yaml.safe_dump({"coder": [right] * 400, "optimizer": ["Keep it short."] * 20,
                                      "critic": ['{"best": "c1", "verdict": "approve", "feedback": "ok"}'] * 400}))
    team = tmp_path / "team.yaml"
    team.write_text(yaml.safe_dump(pair(defaults={"model": f"scripted:{script}", "max_tokens": 64})))
    out = tmp_path / "better.yaml"
    result = CliRunner().invoke(app, ["optimize", str(team), str(_write_tasks(tmp_path / "t.jsonl", 4)), "-o",
                                      str(out), "--budget-tokens", "300"])
    assert result.exit_code == 0, result.output
    assert parse_spec(yaml.safe_load(out.read_text())).name == "pair"
    assert "## Held-out split" in result.output and (tmp_path / "better.optimize" / "front.png").exists()


@pytest.mark.parametrize(("stop", "code", "said"), [(signal.SIGINT, 130, "interrupted"),
                                                    (signal.SIGTERM, 143, "stopped by SIGTERM")])
def test_cli_ctrl_c_or_kill_keeps_every_grade_and_the_same_command_resumes(tmp_path, stop, code, said):
    right = "```python\ndef f(x):\n    return x\n```"
    approve = '{"best": "c1", "verdict": "approve", "feedback": "ok"}'
    script = tmp_path / "s.yaml"

    def write_script(slow: bool) -> None:
        third = {"content": right, "delay_s": 60} if slow else right
        script.write_text(yaml.safe_dump({"coder": [right, right, third] + [right] * 200, "critic": [approve] * 200,
                                          "baseline": [right] * 200, "optimizer": ["Keep it short."] * 20}))

    write_script(slow=True)
    team = tmp_path / "team.yaml"
    team.write_text(yaml.safe_dump(pair(defaults={"model": f"scripted:{script}", "max_tokens": 64})))
    tasks_file = _write_tasks(tmp_path / "t.jsonl", 8)  # the starting team: 4 search tasks, graded whole
    command = [str(Path(sys.executable).with_name("huddle")), "optimize", str(team), str(tasks_file), "-o",
               str(tmp_path / "better.yaml"), "--budget-tokens", "200"]
    env = {**os.environ, "HUDDLE_HOME": str(tmp_path / "home")}
    journal = tmp_path / "better.optimize" / "journal.jsonl"
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=ctrl_c_as_in_a_terminal)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not journal.exists() or journal.read_text().count('"eval"') < 2):
        time.sleep(0.2)
    assert journal.read_text().count('"eval"') == 2, "the search did not grade two tasks in time"
    proc.send_signal(stop)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert f"{said} after 2 grades: they are in {journal}; run the same command to resume" in err
    kept = [json.loads(line) for line in journal.read_text().splitlines() if '"eval"' in line]
    write_script(slow=False)
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    graded = [(line["spec"], line["task"]) for line in map(json.loads, journal.read_text().splitlines())
              if line["kind"] == "eval"]
    assert len(graded) == len(set(graded)) >= 4  # nothing graded twice, and the starting team's grading went on
    assert [(k["spec"], k["task"]) for k in kept] == graded[:2]
    assert (tmp_path / "better.yaml").exists()


class Echo(Responder):
    """The optimiser's replies repeat the failures it was shown, as a small model often does."""

    def reply(self, role, messages, *, on_piece=None) -> str:
        if role == "optimizer":
            return messages[-1]["content"].split("\n\n")[0]
        return super().reply(role, messages, on_piece=on_piece)


@pytest.mark.parametrize(("model", "expected"), [
    (Responder, "Write exactly the function asked for. Return the value the task names."), (Echo, None)])
def test_a_rewrite_that_echoes_the_failures_back_is_not_proposed(tmp_path, model, expected):
    gate = Gateway(1)
    gate.scripts[MODEL] = model()
    journal = Journal(tmp_path / "journal.jsonl", {"seed": 0})
    rewrite = rewriter(parse_spec(pair()), None, gate, journal)
    failures = [("Write a Python function plus3(x) that returns x plus 3.", "assert plus3(0) == 3 failed")]
    assert rewrite("abc", "coder", "coder", "", failures) == expected
    assert journal.rewrites["abc:coder:1"] == (expected or "")  # kept, so a resumed search does not ask again


def test_the_edits_that_paid_off_the_best_teams_lineage_are_proposed_on_it_together(tmp_path, home):
    from studio.optimize.search import Search, SearchConfig, _Variant, spec_hash

    start_data = pair(flow={"type": "best_of_n", "candidates": 4, "tie_break": "critic", "max_rounds": 1},
                      sandbox={"max_attempts": 3})
    four = tasks(4)
    search = Search(parse_spec(start_data), four, Journal(tmp_path / "journal.jsonl", {"t": 1}),
                    SearchConfig(model=MODEL, home=home), gateway=gateway())

    def graded(change: str, parent: str | None, edit: dict, rows: list[tuple[bool, int]]) -> str:
        data = json.loads(json.dumps(start_data))
        for key, value in edit.items():
            data[key] = {**data[key], **value}
        spec = parse_spec(data)
        digest = spec_hash(spec)
        search._admit(_Variant(digest, spec, change.split(".")[0], change, parent))
        for task, (passed, tokens) in zip(four, rows, strict=False):
            search.journal.add_eval(digest, task.id, {"passed": passed, "tokens": tokens, "seconds": 1.0,
                                                      "cost_usd": 0.0, "run_id": "", "reason": ""})
        return digest

    start = graded("start", None, {}, [(True, 100), (False, 100), (False, 100), (True, 100)])
    best = graded("flow.candidates: 4 -> 2", start, {"flow": {"candidates": 2}},
                  [(True, 100), (True, 100), (False, 100), (True, 100)])  # one task more on the whole split
    graded("flow.tie_break: critic -> shortest", start, {"flow": {"tie_break": "shortest"}},
           [(True, 60), (False, 60)])  # as many passed on its rung, for fewer tokens
    graded("sandbox.max_attempts: 3 -> 1", start, {"sandbox": {"max_attempts": 1}},
           [(True, 90), (False, 90)])  # the same, saving less
    graded("flow.candidates: 4 -> 8", start, {"flow": {"candidates": 8}},
           [(True, 50), (False, 50)])  # paid, but the best team has changed candidates since: left out
    graded("memory.enabled: False -> True", start, {"memory": {"enabled": True}},
           [(False, 50), (False, 50)])  # fewer tokens, a task less: did not pay
    assert [s.hash for s in search.best(1)] == [best]

    proposed = search._propose(search.best())[0]
    assert proposed.family == "combine" and proposed.parent == best
    assert proposed.change == "combined: flow.tie_break: critic -> shortest; sandbox.max_attempts: 3 -> 1"
    flow, sandbox = proposed.spec.flow, proposed.spec.sandbox
    assert (flow.candidates, flow.tie_break, sandbox.max_attempts, proposed.spec.memory.enabled) == (2, "shortest",
                                                                                                      1, False)


def test_a_combination_leaves_out_whole_an_edit_of_a_field_changed_since():
    from studio.optimize.combine import combined

    dev = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" / "teams" / "dev_team.yaml").read_text())
    ctx = Context()
    lean = next(p for p in moves_of(dev, ctx, "flow") if "lean" in p.change).spec
    no_planner = next(p for p in moves_of(dev, ctx, "roles") if "without planner" in p.change).spec
    memory_off = next(p for p in moves_of(dev, ctx, "memory") if "enabled" in p.change).spec
    two_tries = next(p for p in moves_of(dev, ctx, "sandbox") if "-> 2" in p.change).spec
    data, used = combined(lean, [(dev, no_planner), (dev, memory_off), (dev, two_tries)])
    # the planner is gone already (and its edges), the sandbox's attempts the lean flow set: only the memory goes in
    assert used == [1]
    assert data == {**lean, "memory": {"enabled": False}}
    spec, problems = checked(Proposal("combine", "c", data))
    assert spec is not None and not problems
    # an added role keeps its place; the same edit twice goes in once
    designer = next(p for p in moves_of(lean, ctx, "roles") if "test designer" in p.change).spec
    data, used = combined(lean, [(lean, designer), (lean, designer)])
    assert used == [0] and [r["name"] for r in data["roles"]] == ["tester", "coder", "critic"]


def test_the_search_space_holds_how_hot_later_candidates_are_and_whether_the_coder_writes_tests():
    root = Path(__file__).resolve().parents[1] / "examples" / "teams"
    solver, dev = (yaml.safe_load((root / f"{name}.yaml").read_text()) for name in ("solver_team", "dev_team"))
    assert "flow.candidate_temperature: 0.5 -> 0.8" in [p.change for p in moves_of(solver, Context(), "flow")]
    roles = {p.change: p for p in moves_of(dev, Context(), "roles")}
    spec, _ = checked(roles["roles.coder.writes_tests: True -> False"])
    assert spec is not None and spec.role("coder").writes_tests is False
    lean = next(p for p in moves_of(dev, Context(), "flow") if "lean" in p.change)
    spec, _ = checked(lean)  # N candidates judged by running them: none writes tests of its own
    assert spec is not None and spec.role("coder").writes_tests is False and "no tests of its own" in lean.change
