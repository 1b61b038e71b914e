"""The test runner and the solution in two processes: what a test sees of the solution, and how runs end.

The attacks on this split are in ``test_sandbox_attacks.py``; here, honest
solutions must keep working as they did when the tests ran next to them.
"""

from __future__ import annotations

import sys

import pytest

from sandbox import Sandbox
from studio.spec.sandbox import SandboxSpec

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's isolation is Linux-only")

SOLUTION = '''
from collections import Counter, namedtuple
from dataclasses import dataclass
from fractions import Fraction

PI = 3.14
Point = namedtuple("Point", "x y")


@dataclass
class Pair:
    a: int
    b: int


class Stack:
    def __init__(self):
        self.items = []

    def push(self, x):
        self.items.append(x)

    def pop(self):
        if not self.items:
            raise IndexError("pop from an empty stack")
        return self.items.pop()

    def __len__(self):
        return len(self.items)

    def __iter__(self):
        return iter(self.items)


class Negative(ValueError):
    pass


def checked(x):
    if x < 0:
        raise Negative(f"{x} is negative")
    return x


def count_up(n):
    yield from range(n)


def sort_in_place(xs):
    xs.sort()


def is_even(n):
    return n % 2 == 0


def everything():
    return {"list": [1, (2, 3)], "set": {4, 5}, "bytes": b"xy", "none": None, "float": 1.5, "big": 2**100,
            "complex": 1j, "frozen": frozenset({1}), "half": Fraction(1, 2), "counts": Counter("aab"),
            "point": Point(1, 2), "pair": Pair(1, 2)}
'''

TESTS = '''from solution import Stack, checked
from fractions import Fraction
assert PI == 3.14
s = Stack()
s.push(1)
s.push(2)
assert len(s) == 2 and list(s) == [1, 2] and 2 in s
assert s.pop() == 2 and s.items == [1]
try:
    checked(-1)
except ValueError as e:
    assert str(e) == "-1 is negative"
else:
    raise AssertionError("no exception")
assert list(count_up(3)) == [0, 1, 2]
xs = [3, 1, 2]
sort_in_place(xs)
assert xs == [1, 2, 3]
assert is_even(4) is True and is_even(3) is False
e = everything()
assert e == {"list": [1, (2, 3)], "set": {4, 5}, "bytes": b"xy", "none": None, "float": 1.5, "big": 2**100,
             "complex": 1j, "frozen": frozenset({1}), "half": Fraction(1, 2), "counts": {"a": 2, "b": 1},
             "point": (1, 2), "pair": everything()["pair"]}
assert e["point"].y == 2 and e["pair"].b == 2 and repr(e["pair"]) == "Pair(a=1, b=2)"

def test_empty_pop():
    Stack().pop()
'''


@pytest.fixture
def box(tmp_path) -> Sandbox:
    return Sandbox(SandboxSpec(timeout_s=5), tmp_path / "ws")


def test_solution_values_come_back_as_plain_data_and_objects_as_handles(box):
    result = box.run({"solution.py": SOLUTION, "test_task.py": TESTS}, tests=["test_task.py"])
    failures = {t.name: t.message for t in result.tests if not t.ok}
    assert failures == {"test_task.py:test_empty_pop": "line 27: Stack().pop()\n  IndexError: pop from an empty stack"}
    assert result.passed == 8


def test_a_handle_equals_only_itself_and_has_no_order(box):
    solution = "class Box:\n    pass\n\ndef make():\n    return Box()\n\nkept = Box()\n\ndef same():\n    return kept\n"
    tests = ("assert make() == make()\nx = make()\nassert x == x and x != make()\nassert make() < 1\n"
             "assert same() is same() and same() == kept\n")
    result = box.run({"solution.py": solution, "test_task.py": tests}, tests=["test_task.py"])
    assert [(t.name, t.ok) for t in result.tests] == [("test_task.py:1", False), ("test_task.py:3", True),
                                                      ("test_task.py:4", False), ("test_task.py:5", True)]
    assert "TypeError: '<' not supported" in result.tests[2].message


def test_values_too_big_or_too_deep_for_data_stay_in_the_solution(box):
    solution = ("def big():\n    return list(range(300_000))\n\n"
                "def deep():\n    x = []\n    for _ in range(1000):\n        x = [x]\n    return x\n")
    tests = "assert len(big()) == 300_000\nassert big()[-1] == 299_999\nassert len(deep()) == 1\n"
    result = box.run({"solution.py": solution, "test_task.py": tests}, tests=["test_task.py"])
    assert [t.ok for t in result.tests] == [True, True, True]


def test_tests_not_reported_when_the_run_is_stopped_fail(tmp_path):
    box = Sandbox(SandboxSpec(timeout_s=2), tmp_path)
    solution = "import time\n\ndef slow(n):\n    if n:\n        time.sleep(60)\n    return n\n"
    tests = "assert slow(0) == 0\nassert slow(1) == 1\nassert slow(0) == 0\n\ndef test_later():\n    assert True\n"
    result = box.run({"solution.py": solution, "test_task.py": tests}, tests=["test_task.py"])
    assert result.limit == "timeout"
    assert [(t.name, t.ok) for t in result.tests] == [
        ("test_task.py:1", True), ("test_task.py:2", False), ("test_task.py:3", False),
        ("test_task.py:test_later", False)]
    assert result.tests[1].message == "not run: stopped: timeout"


def test_a_solution_process_that_dies_fails_the_pending_tests(box):
    solution = "import os, signal\n\ndef add(a, b):\n    if a < 0:\n        os.kill(os.getpid(), signal.SIGKILL)\n" \
               "    return a + b\n"
    tests = "assert add(1, 2) == 3\nassert add(-1, 2) == 1\nassert add(1, 2) == 3\n"
    result = box.run({"solution.py": solution, "test_task.py": tests}, tests=["test_task.py"])
    assert [t.ok for t in result.tests] == [True, False, False] and result.limit is None
    assert "the solution's process ended" in result.tests[1].message
    assert result.tests[2].message.endswith("the solution's process ended before it answered")


def test_the_solution_imports_its_own_modules_but_the_runner_does_not(box):
    files = {"helper.py": "def two():\n    return 2\n",
             "solution.py": "from helper import two\n\ndef add(a, b):\n    return a + b + two() - 2\n",
             "t.py": "assert add(1, 2) == 3\nimport helper\n"}
    result = box.run(files, tests=["t.py"])
    assert [(t.name, t.ok) for t in result.tests] == [("t.py:1", True), ("t.py", False)]
    assert "ModuleNotFoundError: No module named 'helper'" in result.tests[1].message
