"""Adaptive N (``flow.agree``): a best_of_n step stops writing candidates once the evidence decides it."""

from __future__ import annotations

import json

import pytest
from _replies import code
from test_flows import example

import roles.board
import roles.ranker
from roles.board import Board, CandidateSkipped, Evidence, settled
from roles.ranker import Candidate, with_agreement
from sandbox import Sandbox
from studio.llm import Gateway
from studio.messages import Code, Execution, Ranking
from studio.runner import run_team
from studio.spec import SandboxSpec

INC = "Write inc(n) that returns n plus one.\n\nExample:\nassert inc(1) == 2"
PLAIN = "Write a function count_upper(s) that returns how many uppercase letters the string s has."
RIGHT = ["def inc(n):\n    return n + 1", "def inc(n):\n    return 1 + n", "def inc(x):\n    y = x + 1\n    return y",
         "def inc(n):\n    n += 1\n    return n", "def inc(k):\n    return k - (-1)",
         "def inc(n):\n    return sum([n, 1])"]
WRONG = ["def inc(n):\n    return 2", "def inc(n):\n    return n * 2", "def inc(n):\n    return n * n + 1",
         "def inc(n):\n    return abs(n) + 1"]
UPPER = ["def count_upper(s):\n    return sum(1 for c in s if c.isupper())",
         "def count_upper(s):\n    return len([c for c in s if c.isupper()])",
         "def count_upper(text):\n    n = 0\n    for c in text:\n        n += c.isupper()\n    return n"]
CHOSEN = json.dumps({"best": "c1", "verdict": "approve", "feedback": "It passes.", "lessons": []})


def _model(script, codes: dict[str, list[str]], delay: float = 0.0) -> str:
    replies = {f"coder.{b}": [{"content": code(c), "delay_s": delay} for c in cs] for b, cs in codes.items()}
    return script({**replies, "critic": [CHOSEN]})


def _coder_calls(gateway: Gateway, model: str) -> list[str]:
    return [c.role for c in gateway.script(model).calls if c.role.startswith("coder.")]


def _ranking(result) -> Ranking:
    return next(m for m in result.messages if isinstance(m, Ranking))


def test_agreeing_candidates_stop_the_step_and_the_ranking_reuses_their_evidence(script, home, monkeypatch):
    """One candidate at a time: after three that agree (and pass the example) the others are not written."""
    def no_probe(*args, **kwargs):
        raise AssertionError("the ranking ran a probe the candidates had already run")

    monkeypatch.setattr(roles.ranker, "behaviour", no_probe)
    gateway = Gateway()
    model = _model(script, {f"c{i}": [c] for i, c in enumerate(RIGHT[:5], start=1)})
    result = run_team(example("best_of_n_team", candidates=5, max_parallel=1), INC, model=model, gateway=gateway)
    assert result.status == "done", result.error
    assert _coder_calls(gateway, model) == ["coder.c1", "coder.c2", "coder.c3"]
    assert gateway.script(model).remaining() == {"coder.c4": 1, "coder.c5": 1}
    assert not [m for m in result.messages if m.branch in ("c4", "c5")]
    ranking = _ranking(result)
    assert sorted(ranking.order) == ["c1", "c2", "c3"]
    assert "Adaptive N (agree 3): 3 of 5 candidates written; the evidence had decided, so c4, c5 were not needed." \
        in ranking.reason
    assert result.final.approved and result.final.code == RIGHT[0]


def test_candidates_that_disagree_are_all_written(script, home):
    gateway = Gateway()
    model = _model(script, {f"c{i}": [c] for i, c in enumerate(WRONG, start=1)})  # each passes inc(1) == 2
    result = run_team(example("best_of_n_team", candidates=4, max_parallel=1, agree=2), INC, model=model,
                      gateway=gateway)
    assert _coder_calls(gateway, model) == ["coder.c1", "coder.c2", "coder.c3", "coder.c4"]
    gateway.script(model).assert_complete()
    assert "Adaptive N" not in _ranking(result).reason


def test_agree_0_writes_every_candidate(script, home):
    gateway = Gateway()
    model = _model(script, {f"c{i}": [c] for i, c in enumerate(RIGHT[:5], start=1)})
    result = run_team(example("best_of_n_team", candidates=5, max_parallel=1, agree=0), INC, model=model,
                      gateway=gateway)
    assert len(_coder_calls(gateway, model)) == 5 and len(_ranking(result).order) == 5
    gateway.script(model).assert_complete()
    assert result.final.approved


def test_without_examples_the_leading_cluster_needs_one_more(script, home):
    """No example: two agreeing candidates of ``agree: 2`` are not enough, three are (a lead of agree + 1)."""
    spec = example("best_of_n_team", candidates=5, max_parallel=1, agree=2)
    gateway = Gateway()
    model = _model(script, {"c1": [UPPER[0]], "c2": [UPPER[1]], "c3": [UPPER[2]], "c4": [UPPER[0]],
                            "c5": [UPPER[1]]})
    result = run_team(spec, PLAIN, model=model, gateway=gateway)
    assert _coder_calls(gateway, model) == ["coder.c1", "coder.c2", "coder.c3"]
    assert _ranking(result).chosen in ("c1", "c2", "c3") and result.final.code in UPPER


def test_queued_candidates_are_refused_just_before_their_model_call(script, home):
    """All branches start at once, but the model answers one call at a time: the check is made at each call."""
    gateway = Gateway(max_concurrency=1)
    model = _model(script, {f"c{i}": [c] for i, c in enumerate(RIGHT, start=1)}, delay=0.5)
    result = run_team(example("best_of_n_team", candidates=6, agree=2), INC, model=model, gateway=gateway)
    calls = _coder_calls(gateway, model)
    assert 2 <= len(calls) < 6, calls  # c1 and c2 agree while later calls wait for the model
    written = sorted({m.branch for m in result.messages if m.branch})
    assert written == sorted(c.removeprefix("coder.") for c in calls)
    ranking = _ranking(result)
    assert sorted(ranking.order) == written and "not needed" in ranking.reason
    assert result.final.approved and result.final.code in RIGHT


def test_a_failed_candidate_is_not_fixed_once_the_step_is_decided(script, home):
    spec = example("best_of_n_team", candidates=3, agree=2)
    spec = spec.model_copy(update={"sandbox": SandboxSpec(max_attempts=2)})
    gateway = Gateway()
    slow = {"content": code(WRONG[1].replace("n * 2", "0")), "delay_s": 1.5}  # fails the example after c2, c3 agree
    model = script({"coder.c1": [slow, code(RIGHT[0])], "coder.c2": [code(RIGHT[1])], "coder.c3": [code(RIGHT[2])],
                    "critic": [CHOSEN]})
    result = run_team(spec, INC, model=model, gateway=gateway)
    assert _coder_calls(gateway, model).count("coder.c1") == 1  # the fix was refused
    assert gateway.script(model).remaining() == {"coder.c1": 1}
    failed = [m for m in result.messages if isinstance(m, Execution) and m.branch == "c1"]
    assert len(failed) == 1 and not failed[0].ok
    ranking = _ranking(result)
    assert sorted(ranking.order) == ["c1", "c2", "c3"] and ranking.chosen in ("c2", "c3")  # c1 was written


def test_the_board_refuses_calls_once_decided():
    board = Board(agree=2, examples=True, calls=["inc(1)"])
    right, wrong = Evidence("a", ("2",), passed=True), Evidence("b", ("3",), passed=True)
    board.post("c1", right)
    board.check("c2")
    board.post("c2", wrong)
    board.post("c3", right)
    assert not board.decided  # 2 against 1: a lead of one
    board.post("c4", right)
    with pytest.raises(CandidateSkipped):
        board.check("c5")
    assert board.decided and board.skipped == ["c5"] and board.written == ["c1", "c2", "c3", "c4"]
    assert board.evidence("c1", "a") == right and board.evidence("c1", "other code") is None


def test_a_crash_or_a_failed_example_is_no_vote():
    crash, failed = Evidence("a", ("!TypeError",), passed=True), Evidence("b", ("2",), passed=False)
    assert not settled([crash] * 5, agree=2, examples=True)
    assert not settled([failed] * 5, agree=2, examples=True)
    assert not settled([Evidence("c", ("2",), passed=True)] * 5, agree=0, examples=True)


# --- giving up: the evidence leads nowhere (flow.give_up_after) ---------------------------------------------------

GUESSES = ["def count_upper(s):\n    return 0", "def count_upper(s):\n    return len(s)",
           "def count_upper(s):\n    return len(s) + 1", "def count_upper(s):\n    return -1"]
MISSES = ["def inc(n):\n    return n", "def inc(n):\n    return n - 1", "def inc(n):\n    return 0",
          "def inc(n):\n    return -n"]


def test_candidates_that_agree_on_nothing_stop_the_step_after_give_up_after(script, home):
    gateway = Gateway()
    model = _model(script, {f"c{i}": [c] for i, c in enumerate(GUESSES + [UPPER[0]], start=1)})
    result = run_team(example("best_of_n_team", candidates=5, max_parallel=1, give_up_after=3), PLAIN, model=model,
                      gateway=gateway)
    assert _coder_calls(gateway, model) == ["coder.c1", "coder.c2", "coder.c3"]
    assert gateway.script(model).remaining() == {"coder.c4": 1, "coder.c5": 1}
    ranking = _ranking(result)
    assert sorted(ranking.order) == ["c1", "c2", "c3"]
    assert ("Adaptive N (give up after 3): 3 of 5 candidates written; the evidence led nowhere (no two that ran "
            "returned the same values), so c4, c5 were not written.") in ranking.reason


def test_two_that_agree_are_a_lead_and_the_step_goes_on(script, home):
    gateway = Gateway()
    codes = [UPPER[0], GUESSES[0], UPPER[1], GUESSES[1], GUESSES[2]]
    model = _model(script, {f"c{i}": [c] for i, c in enumerate(codes, start=1)})
    result = run_team(example("best_of_n_team", candidates=5, max_parallel=1, give_up_after=3), PLAIN, model=model,
                      gateway=gateway)
    assert len(_coder_calls(gateway, model)) == 5
    gateway.script(model).assert_complete()
    assert "Adaptive N" not in _ranking(result).reason and result.final.code in UPPER


def test_with_examples_the_step_gives_up_when_none_passed_them(script, home):
    gateway = Gateway()
    model = _model(script, {f"c{i}": [c] for i, c in enumerate(MISSES, start=1)})
    result = run_team(example("best_of_n_team", candidates=4, max_parallel=1, give_up_after=2, max_rounds=1), INC,
                      model=model, gateway=gateway)
    assert _coder_calls(gateway, model) == ["coder.c1", "coder.c2"]
    assert "the evidence led nowhere (none passed the task's examples), so c3, c4 were not written." \
        in _ranking(result).reason
    assert result.status == "unsolved", result.error


def test_with_examples_one_that_passed_them_is_a_lead(script, home):
    gateway = Gateway()
    model = _model(script, {"c1": [MISSES[0]], "c2": [RIGHT[0]], "c3": [MISSES[1]], "c4": [MISSES[2]]})
    result = run_team(example("best_of_n_team", candidates=4, max_parallel=1, give_up_after=2), INC, model=model,
                      gateway=gateway)
    assert len(_coder_calls(gateway, model)) == 4
    assert _ranking(result).chosen == "c2" and result.final.code == RIGHT[0]


def test_give_up_after_more_than_the_candidates_is_a_spec_error(tmp_path, home):
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    team = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples/teams/best_of_n_team.yaml").read_text())
    for value, said in ((9, "flow.give_up_after: 9 is more than flow.candidates (3), so it never applies"),
                        (-1, "flow.give_up_after")):
        team["flow"]["give_up_after"] = value
        path = tmp_path / "team.yaml"
        path.write_text(yaml.safe_dump(team))
        out = subprocess.run([str(Path(sys.executable).parent / "huddle"), "teams", "validate", str(path)],
                             capture_output=True, text=True, env={**__import__("os").environ, "HUDDLE_HOME": str(home)})
        assert out.returncode == 2 and said in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_a_candidate_without_usable_code_is_not_repaired(script, home):
    """A repair re-reads the whole conversation: the next candidate is cheaper, so a failed reply stays failed."""
    from studio.messages import Error

    gateway = Gateway()
    model = script({"coder.c1": ["I would loop over the list."], "coder.c2": [code(RIGHT[0])], "critic": [CHOSEN]})
    result = run_team(example("best_of_n_team", candidates=2, max_parallel=1, max_rounds=1), INC, model=model,
                      gateway=gateway)
    gateway.script(model).assert_complete()  # one reply each: c1 was not asked again
    errors = [m for m in result.messages if isinstance(m, Error)]
    assert len(errors) == 1 and errors[0].branch == "c1" and "(not asked again)" in errors[0].content
    assert _ranking(result).chosen == "c2" and result.final.code == RIGHT[0]


def test_copies_of_one_code_are_probed_once_and_agree(script, home, monkeypatch, tmp_path):
    """Small models write the same code again and again: one program, one probe, and its copies agree."""
    probed: list[str] = []

    def counted(board_or_ranker):
        real = board_or_ranker.behaviour

        def probe(code, *args, **kwargs):
            probed.append(code)
            return real(code, *args, **kwargs)
        return probe

    monkeypatch.setattr(roles.board, "behaviour", counted(roles.board))
    gateway = Gateway()
    codes = [RIGHT[0], RIGHT[0], WRONG[1], RIGHT[0]]
    model = _model(script, {f"c{i}": [c] for i, c in enumerate(codes, start=1)})
    result = run_team(example("best_of_n_team", candidates=4, max_parallel=1, agree=0), INC, model=model,
                      gateway=gateway)
    assert sorted(probed) == sorted([RIGHT[0], WRONG[1]])
    assert _ranking(result).chosen == "c1" and result.final.code == RIGHT[0]

    probed.clear()  # the ranking without a board (a baseline's vote) probes each distinct code once too
    monkeypatch.setattr(roles.ranker, "behaviour", counted(roles.ranker))
    box = Sandbox(SandboxSpec(timeout_s=2), tmp_path / "ws")
    ranked = with_agreement([Candidate(f"s{i}", Code(run_id="r", sender="vote", code=c)) for i, c in enumerate(codes)],
                            INC, box)
    assert sorted(probed) == sorted([RIGHT[0], WRONG[1]])
    assert [c.agreement for c in ranked] == [2, 2, 0, 2]
