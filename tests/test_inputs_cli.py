"""Every ``huddle`` command, given a binary file, a file that is not UTF-8 or an argument that is not UTF-8,
exits 2 with the file or argument named and no traceback (issue 18, item 5).

The commands are read from the typer app, so a new one fails here until its inputs are covered. The console
script itself is driven in a subprocess for a few cases; the typer ``CliRunner`` (and ``main()`` in this
process, for arguments) covers the rest.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEV_SCRIPT, DEV_TEAM
from typer.main import get_command
from typer.testing import CliRunner

from studio import cli

HUDDLE = str(Path(sys.executable).parent / "huddle")
BINARY = bytes(range(256)) * 4  # NUL bytes and every byte that is not UTF-8
LATIN = "version: 1\nname: café\nroles: [{name: coder, kind: coder}]\n".encode("latin-1")
TASK = '{"id": "add", "prompt": "Write add(a, b).", "entry_point": "add", "tests": ["assert add(1, 2) == 3"]}\n'
BAD_ARG = "fizz\udcffbuzz"  # what Python makes of the bytes b"fizz\xffbuzz" in sys.argv

# Each command and the files it reads, as arguments with {placeholders} for the files of the `files` fixture.
# A command that reads no file (runs list, runs show, memory serve, gc) is still covered by the argument test.
FILE_ATTACKS: dict[str, list[list[str]]] = {
    "run": [["{bin_yaml}", "task"], ["{latin_yaml}", "task"], [str(DEV_TEAM), "task", "--model", "scripted:{bin_yaml}"],
            ["--resume", "feedbeef", "--edit", "{bin_py}"]],
    "teams validate": [["{bin_yaml}"], ["{latin_yaml}"], ["{bin_json}"]],
    "export": [["{bin_yaml}"], ["{latin_yaml}", "--to", "yaml"]],
    "ui": [["--team", "{bin_yaml}"], ["--team", "{latin_yaml}"]],
    "eval": [["{bin_yaml}", "{tasks}"], [str(DEV_TEAM), "{bin_jsonl}"], [str(DEV_TEAM), "{latin_jsonl}"],
             [str(DEV_TEAM), "{tasks}", "--model", "scripted:{latin_yaml}"]],
    "mcp serve": [["{bin_yaml}"], ["{latin_yaml}"], [str(DEV_TEAM), "--model", "scripted:{bin_yaml}"]],
    "memory ingest": [["{ok_py}", "--team", "{bin_yaml}"], ["{bin_txt}", "--team", "{hash_team}"]],
    "memory search": [["query", "--team", "{bin_yaml}"]],
    "memory list": [["--team", "{latin_yaml}"]],
    "memory forget": [["some-id", "--team", "{bin_yaml}"]],
    "memory approve": [["some-id", "--team", "{bin_yaml}"]],
    "sandbox check": [["--team", "{bin_yaml}"]],
    "sandbox run": [["{bin_py}"], ["{ok_py}", "--tests", "{bin_py}"], ["{ok_py}", "--team", "{latin_yaml}"]],
    "replay": [["{bin_jsonl}"], ["{latin_jsonl}"], ["no-such-run", "--team", "{bin_yaml}"]],
    "test": [["{bin_yaml}", "{folder}"], ["{latin_yaml}", "{folder}"]],
    "optimize": [["{bin_yaml}", "{tasks}", "-o", "{folder}/b.yaml", "--budget-tokens", "9"],
                 [str(DEV_TEAM), "{latin_jsonl}", "-o", "{folder}/b.yaml", "--budget-tokens", "9"],
                 [str(DEV_TEAM), "{tasks}", "-o", "{folder}/b.yaml", "--budget-tokens", "9",
                  "--compare", "{bin_yaml}"]],
    "teams new": [["a coder", "-o", "{folder}/t.yaml", "--model", "scripted:{bin_yaml}"]],
}
READS_NO_FILE = {"runs list", "runs show", "runs diff", "runs fork", "runs export-cassette", "memory serve", "gc"}


def _commands(command=None, prefix: tuple[str, ...] = ()) -> list[str]:
    """Every command of the ``huddle`` app, as the words that call it (``memory ingest``)."""
    command = command or get_command(cli.app)
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        return [" ".join(prefix)]
    return [name for key, sub in subcommands.items() for name in _commands(sub, (*prefix, key))]


@pytest.fixture
def files(tmp_path) -> dict[str, str]:
    made = {"bin_yaml": BINARY, "bin_json": BINARY, "bin_jsonl": BINARY, "bin_py": BINARY, "bin_txt": BINARY,
            "latin_yaml": LATIN, "latin_jsonl": TASK.replace("Write", "Écris").encode("latin-1"),
            "tasks": TASK.encode(), "ok_py": b"print(1)\n",
            "hash_team": b"name: h\nroles: [{name: coder, kind: coder}]\nmemory: {embedder: {model: hash}}\n"}
    paths = {}
    for key, data in made.items():
        stem, _, suffix = key.rpartition("_")
        path = tmp_path / (f"{key}.{suffix}" if stem in ("bin", "latin", "ok") else f"{key}.yaml" if
                           key == "hash_team" else f"{key}.jsonl")
        path.write_bytes(data)
        paths[key] = str(path)
    paths["folder"] = str(tmp_path)
    return paths


def test_every_command_is_covered():
    assert set(_commands()) == set(FILE_ATTACKS) | READS_NO_FILE


CASES = [(name, args) for name, attacks in FILE_ATTACKS.items() for args in attacks]


@pytest.mark.parametrize("name, args", CASES, ids=[f"{n}:{' '.join(a)}" for n, a in CASES])
def test_a_binary_or_non_utf8_file_exits_2_naming_it(name, args, files):
    argv = [*name.split(), *(arg.format(**files) for arg in args)]
    named = next(arg for arg in argv if any(arg.endswith(files[k]) for k in files if k[:3] in ("bin", "lat")))
    result = CliRunner().invoke(cli.app, argv)
    assert result.exit_code == 2, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an exception caught by the runner
    shown = " ".join(result.output.split())  # rich and typer wrap long lines
    assert named.removeprefix("scripted:").rpartition("/")[2] in shown, shown
    assert any(why in shown for why in ("not UTF-8", "NUL byte", "binary file")), shown
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", sorted(FILE_ATTACKS.keys() | READS_NO_FILE))
def test_an_argument_that_is_not_utf8_exits_2_in_every_command(name, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["huddle", *name.split(), BAD_ARG])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {len(name.split()) + 1} 'fizz\\xffbuzz' is not valid UTF-8" in err


def _huddle(*args: bytes | str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HUDDLE_HOME": str(home)}
    return subprocess.run([HUDDLE, *args], capture_output=True, env=env, timeout=120)


def test_the_console_script_refuses_a_run_id_and_a_task_that_are_not_utf8(home):
    """The bytes reach the real process through argv, as a shell would pass them."""
    for args in ([b"runs", b"show", b"ab\xffcd"], [b"run", str(DEV_TEAM).encode(), b"Write \xff fizzbuzz",
                                                   b"--model", f"scripted:{DEV_SCRIPT}".encode()]):
        out = _huddle(*args, home=home)
        err = out.stderr.decode("utf-8")
        assert out.returncode == 2, err
        assert "argument 3" in err and "is not valid UTF-8" in err and "Traceback" not in err
    assert not (home / "runs.db").exists()  # nothing was recorded


def test_the_console_script_refuses_a_non_utf8_team_file_and_a_binary_solution(home, files):
    out = _huddle("teams", "validate", files["latin_yaml"], home=home)
    assert out.returncode == 2 and b"byte 0xe9 at line 2, column 10 is not UTF-8" in out.stderr
    out = _huddle("sandbox", "run", files["bin_py"], home=home)
    assert out.returncode == 2 and b"NUL byte" in out.stderr and files["bin_py"].encode() in out.stderr
    assert b"Traceback" not in out.stderr
