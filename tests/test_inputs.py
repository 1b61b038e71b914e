"""Hostile and careless input files: each is refused at once with an error that names the file and the place.

Issue 18, item 5. Every attack goes through the public loaders the commands use: ``load_spec`` (team
files), ``ScriptedModel.load`` (scripted replies), ``load_tasks`` (eval task files) and the studio's upload
and ``--team`` readers.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from studio.eval.tasks import EvalError, load_tasks
from studio.llm.scripted import ScriptedModel, ScriptError
from studio.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[1]
TEAM = "version: 1\nname: trio\nroles:\n  - {name: coder, kind: coder}\n  - {name: critic, kind: critic}\n"
# "Billion laughs": nine levels of nine aliases each, 9^9 (387 million) tools once expanded.
BOMB = "version: 1\nname: bomb\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)) + (
    "roles: [{name: coder, kind: coder, tools: *i}]\n")


def _refused(path: Path) -> str:
    """The SpecError ``load_spec`` raises for ``path`` (which must name the file), as text."""
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.source == str(path) and str(path) in str(info.value)
    return str(info.value)


def _write(tmp_path: Path, text: str | bytes, name: str = "team.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def _timed_peak(call) -> tuple[float, float]:
    """(seconds, peak MB allocated) of ``call()``, which must raise SpecError."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SpecError):
            call()
        return time.perf_counter() - start, tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def test_a_half_kilobyte_alias_bomb_fails_fast_and_small(tmp_path):
    path = _write(tmp_path, BOMB)
    assert path.stat().st_size <= 512
    seconds, peak_mb = _timed_peak(lambda: load_spec(path))
    assert seconds < 1 and peak_mb < 20, (seconds, peak_mb)
    message = _refused(path)
    assert "alias bomb" in message and "line 7, column 4" in message  # e: the first value past 20,000 expanded


def test_an_alias_inside_its_own_value_is_refused(tmp_path):
    message = _refused(_write(tmp_path, TEAM + "description: &loop [a, *loop]\n"))
    assert "refers to a value that contains it" in message and "line 6" in message


def test_aliases_that_nest_too_deep_are_refused(tmp_path):
    chain = "".join(f"x{i}: &x{i} [*x{i - 1}]\n" for i in range(1, 80))
    message = _refused(_write(tmp_path, TEAM + "x0: &x0 [end]\n" + chain))
    assert "nest this value more than 64 levels deep" in message


def test_ordinary_anchors_and_merge_keys_still_load(tmp_path):
    text = ("version: 1\nname: shared\nroles:\n  - &base {name: coder, kind: coder, instructions: &say Be brief.}\n"
            "  - <<: *base\n    name: second\n  - {name: critic, kind: critic, instructions: *say}\n")
    spec = load_spec(_write(tmp_path, text))
    assert [(r.name, r.instructions) for r in spec.roles] == [
        ("coder", "Be brief."), ("second", "Be brief."), ("critic", "Be brief.")]


@pytest.mark.parametrize("shape", ["flow", "block", "json", "json-100k"])
def test_500_deep_nesting_is_a_spec_error(tmp_path, shape):
    depth = 100_000 if shape == "json-100k" else 500
    if shape == "flow":
        text, name = TEAM + "description: " + "[" * depth + "]" * depth + "\n", "team.yaml"
    elif shape == "block":
        text, name = TEAM + "description:\n" + "".join("  " * i + "- \n" for i in range(1, depth)), "team.yaml"
    else:
        text, name = '{"name": "t", "description": ' + "[" * depth + "]" * depth + "}", "team.json"
    start = time.perf_counter()
    message = _refused(_write(tmp_path, text, name))
    assert time.perf_counter() - start < 2
    assert "nested more than 64 levels deep" in message and "Recursion" not in message


@pytest.mark.parametrize("text, expected", [
    (TEAM + "name: again\n", "line 6, column 1: duplicate key 'name' (first on line 2)"),
    (TEAM.replace("{name: coder, kind: coder}", "{name: coder, kind: coder, kind: critic}"),
     "line 4, column 32: duplicate key 'kind' (first on line 4)"),
])
def test_duplicate_yaml_keys_are_refused_with_both_lines(tmp_path, text, expected):
    assert expected in _refused(_write(tmp_path, text))


def test_duplicate_json_keys_are_refused(tmp_path):
    text = '{"name": "a", "roles": [{"name": "coder", "kind": "coder"}], "name": "b"}'
    assert "duplicate key 'name'" in _refused(_write(tmp_path, text, "team.json"))


@pytest.mark.parametrize("data, expected", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file: it holds a NUL byte at line 3, column 1"),
    (TEAM.encode() + "description: café\n".encode("latin-1"), "byte 0xe9 at line 6, column 17 is not UTF-8"),
    (TEAM.encode("utf-16"), "not a text file"),
    (TEAM.encode() + b"description: a\x1bb\n", "line 6, column 15: control character #x001b is not allowed"),
])
def test_binary_and_non_utf8_team_files_name_the_place(tmp_path, data, expected):
    message = _refused(_write(tmp_path, data))
    assert expected in message and "UnicodeDecodeError" not in message


def test_a_team_file_over_1_mb_is_refused(tmp_path):
    path = _write(tmp_path, TEAM + "# padding\n" * 200_000)
    assert "larger than 1 MB" in _refused(path)


def test_many_small_values_stop_parsing_early(tmp_path):
    path = _write(tmp_path, TEAM + "description:\n" + "  - a\n" * 150_000)  # 900 kB: under the size limit
    start = time.perf_counter()
    assert "more than 20,000 values" in _refused(path)
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("value, expected", [
    ("1:" * 200_000 + "1", "a number 400,001 characters long"),  # base 60: quadratic to convert
    ("9" * 5000, "a number 5,000 characters long"),
    ("2024-13-45", "the timestamp value '2024-13-45' cannot be read"),
    ("!!timestamp soon", "the timestamp value 'soon' cannot be read"),
    ("!!bool maybe", "the bool value 'maybe' cannot be read"),
])
def test_values_yaml_cannot_convert_are_spec_errors(tmp_path, value, expected):
    start = time.perf_counter()
    assert expected in _refused(_write(tmp_path, TEAM + f"description: {value}\n"))
    assert time.perf_counter() - start < 1


def test_a_long_secret_shaped_value_loads_fast(tmp_path):
    path = _write(tmp_path, TEAM + "description: '" + "sk-" * 15_000 + "'\n")  # 45 kB: 5 s here, 0.1 s bounded
    start = time.perf_counter()
    load_spec(path)
    assert time.perf_counter() - start < 1


@pytest.mark.skipif(sys.platform != "linux", reason="FIFOs and /dev/zero as on Linux")
def test_a_fifo_a_device_or_a_folder_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "team.yaml"
    os.mkfifo(fifo)
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(_refused(fifo)), daemon=True)
    reader.start()
    reader.join(5)
    assert result and "it is a FIFO, not a regular file" in result[0]
    assert "it is a device" in _refused(Path("/dev/zero"))
    assert "it is a folder" in _refused(tmp_path)


def test_script_files_get_the_same_limits(tmp_path):
    cases = {"bomb.yaml": BOMB.replace("roles: [{name: coder, kind: coder, tools: *i}]", "coder: *i"),
             "dup.yaml": "coder: [a]\ncritic: [b]\ncoder: [c]\n",
             "latin.yaml": "coder: [caf\xe9]\n".encode("latin-1"), "bin.yaml": bytes(range(256))}
    expected = {"bomb.yaml": "alias bomb", "dup.yaml": "duplicate key 'coder' (first on line 1)",
                "latin.yaml": "byte 0xe9 at line 1, column 12", "bin.yaml": "NUL byte"}
    for name, text in cases.items():
        path = _write(tmp_path, text, name)
        with pytest.raises(ScriptError) as info:
            ScriptedModel.load(path)
        assert str(path) in str(info.value) and expected[name] in str(info.value), info.value


def test_task_files_get_the_same_limits(tmp_path):
    good = {"id": "add", "prompt": "Write add(a, b).", "entry_point": "add", "tests": ["assert add(1, 2) == 3"]}
    lines = [json.dumps(good), '{"id": "x", "id": "y"}', "[" * 5000 + "]" * 5000, "[" * 200_000,
             json.dumps({**good, "id": "nul", "tests": ["assert add(1, 2) == 3\x00"]})]
    path = _write(tmp_path, "\n".join(lines) + "\n", "tasks.jsonl")
    with pytest.raises(EvalError) as info:
        load_tasks(path)
    text = str(info.value)
    assert str(path) in text and "line 1:" not in text
    for expected in ("line 2: duplicate key 'id'", "line 3: nested more than 64", "line 4: nested more than 64",
                     "line 5: tests[0]: not valid Python"):
        assert expected in text
    latin = _write(tmp_path, json.dumps(good).replace("Write", "Écris").encode("latin-1"), "latin.jsonl")
    with pytest.raises(EvalError, match=r"latin\.jsonl: not UTF-8 text: byte 0xc9 at line 1, column 26"):
        load_tasks(latin)


def test_the_studio_upload_and_team_readers_get_the_same_limits(tmp_path):
    from studio.ui.build_io import parse_upload
    from studio.ui.state import load_team_file

    with pytest.raises(SpecError, match="alias bomb"):
        parse_upload("bomb.yaml", BOMB.encode())
    with pytest.raises(SpecError, match="larger than 1 MB"):
        parse_upload("big.yaml", b"#" * 1_000_001)
    with pytest.raises(SpecError, match="duplicate key 'name'"):
        load_team_file(_write(tmp_path, TEAM + "name: again\n"))
    with pytest.raises(SpecError, match="not UTF-8 text"):
        load_team_file(_write(tmp_path, b"name: \xff\n"))


def test_every_example_still_loads_and_round_trips(tmp_path):
    for path in sorted((ROOT / "examples" / "teams").glob("*.yaml")):
        assert load_spec(path).name == yaml.safe_load(path.read_text(encoding="utf-8"))["name"]
    for path in sorted((ROOT / "examples" / "scripts").glob("*.yaml")):
        assert ScriptedModel.load(path).replies == yaml.safe_load(path.read_text(encoding="utf-8"))
