"""Team spec files: loading, round trips, people-readable errors and the ``teams validate`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from studio.spec import ROLE_KINDS, RoleSpec, SpecError, TeamSpec, dump_spec, load_spec, parse_spec

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "teams" / "dev_team.yaml"
HUDDLE = Path(sys.executable).parent / "huddle"


def _team() -> dict:
    """A small valid spec as plain data, for each test to break in one place."""
    return {
        "version": 1,
        "name": "trio",
        "roles": [
            {"name": "planner", "kind": "planner"},
            {"name": "coder", "kind": "coder"},
            {"name": "critic", "kind": "critic"},
        ],
        "flow": {"edges": [{"from": "planner", "to": "coder"}, {"from": "coder", "to": "critic"}]},
    }


def _write_yaml(tmp_path: Path, data, name: str = "team.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message, "the error must name the file"
    assert info.value.source == str(path)
    return message


def test_example_dev_team_loads():
    spec = load_spec(EXAMPLE)
    assert spec.version == 1
    assert spec.name == "dev-team"
    assert [(r.name, r.kind) for r in spec.roles] == [
        ("orchestrator", "orchestrator"), ("planner", "planner"), ("coder", "coder"), ("critic", "critic"),
    ]
    assert spec.flow.entry == "planner" and spec.flow.max_rounds == 6
    assert [(e.source, e.target) for e in spec.flow.edges] == [
        ("planner", "coder"), ("coder", "critic"), ("critic", "coder"),
    ]
    assert spec.defaults.max_tokens == 384 and spec.defaults.model == "local/smollm2"
    assert spec.role("coder").instructions.startswith("Prefer small")


@pytest.mark.parametrize("fmt, suffix", [("yaml", ".yaml"), ("json", ".json")])
def test_dump_then_load_gives_the_same_spec(tmp_path, fmt, suffix):
    spec = load_spec(EXAMPLE)
    text = dump_spec(spec, fmt)
    path = tmp_path / f"team{suffix}"
    path.write_text(text, encoding="utf-8")
    assert load_spec(path) == spec
    if fmt == "json":
        assert json.loads(text)["flow"]["edges"][0] == {"from": "planner", "to": "coder"}


def test_yml_suffix_and_omitted_version_load(tmp_path):
    data = _team()
    del data["version"]
    spec = load_spec(_write_yaml(tmp_path, data, "team.yml"))
    assert spec.version == 1 and spec.name == "trio"


def test_yaml_syntax_error_gives_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: trio\nroles:\n  - name: coder\n    kind: [coder\n", encoding="utf-8")
    message = _error(path)
    assert "not valid YAML" in message
    assert "line 5" in message and "column" in message


def test_json_syntax_error_gives_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "name": "trio",\n}\n', encoding="utf-8")
    message = _error(path)
    assert "not valid JSON" in message
    assert "line 3, column 1" in message


def test_unknown_field_is_named(tmp_path):
    data = _team()
    data["roles"][0]["colour"] = "red"
    message = _error(_write_yaml(tmp_path, data))
    assert "roles[0].colour: unknown field" in message


def test_wrong_type_names_field_and_value(tmp_path):
    data = _team()
    data["flow"]["max_rounds"] = "many"
    message = _error(_write_yaml(tmp_path, data))
    assert "flow.max_rounds:" in message
    assert "integer" in message and "'many'" in message


def test_unknown_role_kind_lists_allowed_kinds(tmp_path):
    data = _team()
    data["roles"][1]["kind"] = "poet"
    message = _error(_write_yaml(tmp_path, data))
    assert "roles[1].kind:" in message and "'poet'" in message and "add acts_as" in message
    assert f"one of {', '.join(ROLE_KINDS)}" in message


def test_a_custom_kind_acts_as_a_built_in_one(tmp_path):
    data = _team()
    data["roles"].append({"name": "tester", "kind": "tester", "acts_as": "critic", "instructions": "Run it."})
    spec = load_spec(_write_yaml(tmp_path, data))
    tester = spec.role("tester")
    assert (tester.kind, tester.behaviour, tester.builtin) == ("tester", "critic", False)
    assert tester.reads() == ("knowledge", "reflections") and tester.writes() == ("reflections",)  # a critic's
    data["roles"][0]["acts_as"] = "coder"  # the planner cannot act as anything else
    message = _error(_write_yaml(tmp_path, data))
    assert "roles[0].acts_as: a built-in kind acts as itself" in message


def test_edge_to_missing_role(tmp_path):
    data = _team()
    data["flow"]["edges"][0]["to"] = "tester"
    message = _error(_write_yaml(tmp_path, data))
    assert "flow.edges[0].to: no role named 'tester'" in message
    assert "expected one of: coder, critic, planner" in message


def test_entry_naming_missing_role(tmp_path):
    data = _team()
    data["flow"]["entry"] = "boss"
    message = _error(_write_yaml(tmp_path, data))
    assert "flow.entry: no role named 'boss'" in message
    assert "expected one of: coder, critic, planner" in message


def test_duplicate_role_names(tmp_path):
    data = _team()
    data["roles"][2]["name"] = "planner"
    message = _error(_write_yaml(tmp_path, data))
    assert "roles[2].name: duplicate role name 'planner' (also roles[0])" in message
    assert "unique" in message


def test_empty_roles_list(tmp_path):
    data = _team()
    data["roles"] = []
    data["flow"] = {}
    message = _error(_write_yaml(tmp_path, data))
    assert "roles:" in message and "at least 1" in message


def test_only_an_orchestrator_is_not_a_team(tmp_path):
    data = {"name": "boss", "roles": [{"name": "boss", "kind": "orchestrator"}]}
    message = _error(_write_yaml(tmp_path, data))
    assert "roles: expected at least one role that is not an orchestrator" in message


def test_top_level_list_instead_of_mapping(tmp_path):
    message = _error(_write_yaml(tmp_path, [_team()]))
    assert "expected a mapping at the top level, got list" in message


def test_unsupported_version(tmp_path):
    data = _team()
    data["version"] = 2
    message = _error(_write_yaml(tmp_path, data))
    assert "version:" in message and "spec version 1, got 2" in message


def test_missing_file(tmp_path):
    message = _error(tmp_path / "nowhere.yaml")
    assert "cannot read the file" in message


def test_every_problem_is_listed():
    data = _team()
    data["roles"][0]["colour"] = "red"
    data["flow"]["max_rounds"] = 0
    with pytest.raises(SpecError) as info:
        parse_spec(data, "mem.yaml")
    assert len(info.value.problems) == 2
    assert any(p.startswith("roles[0].colour") for p in info.value.problems)
    assert any(p.startswith("flow.max_rounds") for p in info.value.problems)


def test_successor_follows_first_edge():
    spec = load_spec(EXAMPLE)
    assert spec.successor("planner") == "coder"
    assert spec.successor("critic") == "coder"
    assert spec.successor("orchestrator") is None


def test_entry_workers_and_orchestrator():
    spec = load_spec(EXAMPLE)
    assert spec.entry() == "planner"
    assert [r.name for r in spec.workers()] == ["planner", "coder", "critic"]
    assert spec.orchestrator().name == "orchestrator"

    data = _team()
    data["roles"].insert(0, {"name": "boss", "kind": "orchestrator"})
    assert parse_spec(data).entry() == "planner", "without flow.entry the first worker speaks first"
    assert parse_spec(_team()).orchestrator() is None


def test_model_for_prefers_override_then_role_then_default():
    spec = TeamSpec(
        name="duo",
        roles=[RoleSpec(name="coder", kind="coder", model="gpt-4o-mini"), RoleSpec(name="critic", kind="critic")],
        defaults={"model": "ollama/llama3"},
    )
    assert spec.model_for("coder") == "gpt-4o-mini"
    assert spec.model_for("critic") == "ollama/llama3"
    assert spec.model_for("critic", override="scripted:x.yaml") == "scripted:x.yaml"
    with pytest.raises(KeyError):
        spec.model_for("ghost")


def _validate(path: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HUDDLE_HOME": str(tmp_path / "home")}
    return subprocess.run([str(HUDDLE), "teams", "validate", str(path)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_validate_accepts_example(tmp_path):
    out = _validate(EXAMPLE, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")
    assert "dev-team" in out.stdout
    assert "sandbox: on, 10 s wall, 10 s CPU, 512 MB, 32 processes, network cut" in out.stdout


def test_sandbox_settings_are_validated_and_can_turn_execution_off(tmp_path):
    data = _team()
    data["sandbox"] = {"timeout_s": 0, "memory_mb": "lots", "shell": True}
    message = _error(_write_yaml(tmp_path, data))
    assert "sandbox.timeout_s: input should be greater than 0" in message
    assert "sandbox.memory_mb:" in message and "'lots'" in message
    assert "sandbox.shell: unknown field" in message
    data["sandbox"] = {"enabled": False}
    path = _write_yaml(tmp_path, data)
    assert load_spec(path).sandbox.enabled is False
    assert "sandbox: off" in _validate(path, tmp_path).stdout


def test_cli_validate_rejects_bad_file_without_traceback(tmp_path):
    data = _team()
    data["roles"][1]["kind"] = "poet"
    path = _write_yaml(tmp_path, data)
    out = _validate(path, tmp_path)
    assert out.returncode == 2
    assert out.stdout == ""
    assert str(path) in out.stderr and "roles[1].kind" in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_validate_missing_file(tmp_path):
    out = _validate(tmp_path / "nowhere.yaml", tmp_path)
    assert out.returncode == 2
    assert "cannot read the file" in out.stderr and "Traceback" not in out.stderr


FIXTURES = Path(__file__).parent / "fixtures" / "specs"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("v*/*.*")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_spec_files_of_every_version_keep_loading(path):
    """Files written for each spec version load, and survive a dump and reload unchanged."""
    spec = load_spec(path)
    assert spec.version == int(path.parent.name.removeprefix("v"))
    assert parse_spec(json.loads(dump_spec(spec, "json"))) == spec
    assert parse_spec(yaml.safe_load(dump_spec(spec))) == spec


def test_what_old_files_mean_does_not_change():
    solo = load_spec(FIXTURES / "v1" / "minimal.yaml")
    assert (solo.defaults.model, solo.flow.max_rounds, solo.memory.enabled, solo.sandbox.enabled) == (
        "local/smollm2", 8, True, True)
    library = load_spec(FIXTURES / "v1" / "with_memory.yaml")
    assert library.memory_namespace() == "shared-docs" and library.role("coder").reads() == ("knowledge",)
    testers = load_spec(FIXTURES / "v1" / "sandbox_custom_role.yaml")
    assert testers.role("tester").behaviour == "critic" and testers.sandbox.max_attempts == 2
