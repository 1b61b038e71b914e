"""The scripted model: per-role queues that never cycle, recorded calls and clear script errors."""

from __future__ import annotations

import time

import pytest
import yaml

from studio.llm.scripted import ScriptedModel, ScriptedProviderError, ScriptError, ScriptExhausted

ASK = [{"role": "user", "content": "go"}]


def test_each_role_has_its_own_queue_in_order():
    model = ScriptedModel({"planner": ["p1", "p2"], "coder": ["c1"]})
    assert model.reply("planner", ASK) == "p1"
    assert model.reply("coder", ASK) == "c1"
    assert model.reply("planner", ASK) == "p2"
    model.assert_complete()


def test_replies_never_cycle():
    model = ScriptedModel({"coder": ["c1", "c2"]}, source="team.yaml")
    model.reply("coder", ASK)
    model.reply("coder", ASK)
    with pytest.raises(ScriptExhausted) as info:
        model.reply("coder", ASK)
    message = str(info.value)
    assert "'coder'" in message and "it had 2" in message and "team.yaml" in message
    with pytest.raises(ScriptExhausted):
        model.reply("coder", ASK)  # still exhausted, not back to c1


def test_role_absent_from_script_names_the_roles_that_exist():
    model = ScriptedModel({"planner": ["p"], "coder": ["c"]})
    with pytest.raises(ScriptExhausted) as info:
        model.reply("critic", ASK)
    message = str(info.value)
    assert "'critic'" in message and "coder, planner" in message


def test_role_with_empty_list_is_exhausted_at_once():
    model = ScriptedModel({"critic": []})
    with pytest.raises(ScriptExhausted, match="it had 0"):
        model.reply("critic", ASK)


def test_delay_sleeps_before_replying():
    model = ScriptedModel({"coder": [{"content": "slow", "delay_s": 0.05}]})
    started = time.monotonic()
    assert model.reply("coder", ASK) == "slow"
    assert time.monotonic() - started >= 0.05


def test_error_entry_raises_and_is_consumed():
    model = ScriptedModel({"coder": [{"error": "rate limited"}, "c1"]})
    with pytest.raises(ScriptedProviderError, match="rate limited"):
        model.reply("coder", ASK)
    assert model.reply("coder", ASK) == "c1"
    model.assert_complete()
    assert [(c.reply, c.error) for c in model.calls] == [(None, "rate limited"), ("c1", None)]


def test_calls_are_recorded_with_role_and_messages():
    model = ScriptedModel({"planner": ["p"], "coder": ["c"]})
    asks = [{"role": "system", "content": "you plan"}, {"role": "user", "content": "fizzbuzz"}]
    model.reply("planner", asks)
    asks.append({"role": "assistant", "content": "later"})  # the record is a copy
    model.reply("coder", ASK)
    assert [c.role for c in model.calls] == ["planner", "coder"]
    assert model.calls[0].messages == asks[:2]
    assert model.calls[1].messages == ASK
    assert [c.reply for c in model.calls] == ["p", "c"]


def test_assert_complete_lists_unused_replies():
    model = ScriptedModel({"planner": ["p"], "coder": ["c1", "c2", "c3"]}, source="demo.yaml")
    model.reply("coder", ASK)
    assert model.remaining() == {"planner": 1, "coder": 2}
    with pytest.raises(AssertionError) as info:
        model.assert_complete()
    message = str(info.value)
    assert "demo.yaml" in message and "'planner': 1" in message and "'coder': 2" in message


def test_start_at_skips_replies():
    model = ScriptedModel({"planner": ["p1", "p2"], "coder": ["c1", "c2", "c3"]}, start_at={"coder": 2})
    assert model.reply("coder", ASK) == "c3"
    assert model.reply("planner", ASK) == "p1"
    with pytest.raises(ScriptExhausted, match="this was call 4"):
        model.reply("coder", ASK)


def test_load_reads_a_file_with_start_at(tmp_path):
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump({"coder": ["c1", {"content": "c2"}, {"error": "boom"}]}), encoding="utf-8")
    model = ScriptedModel.load(path, start_at={"coder": 1})
    assert model.source == str(path)
    assert model.reply("coder", ASK) == "c2"
    with pytest.raises(ScriptedProviderError):
        model.reply("coder", ASK)
    model.assert_complete()


def test_empty_file_is_an_empty_script(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    model = ScriptedModel.load(path)
    model.assert_complete()
    with pytest.raises(ScriptExhausted, match="no role"):
        model.reply("coder", ASK)


# --- bad script files --------------------------------------------------------


def _load_error(tmp_path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScriptError) as info:
        ScriptedModel.load(path)
    message = str(info.value)
    assert str(path) in message, "the error must name the file"
    return message


def test_script_that_is_not_a_mapping(tmp_path):
    assert "expected a mapping" in _load_error(tmp_path, "- one\n- two\n")


def test_role_that_is_not_a_list(tmp_path):
    assert "coder: expected a list of replies, got str" in _load_error(tmp_path, "coder: just one\n")


def test_reply_that_is_a_number(tmp_path):
    message = _load_error(tmp_path, "coder:\n  - ok\n  - 42\n")
    assert "coder[1]" in message and "got 42" in message


@pytest.mark.parametrize("reply", ["{content: 7}", "{text: hi}", "{}"])
def test_reply_mapping_with_bad_shape(tmp_path, reply):
    assert "coder[0]" in _load_error(tmp_path, f"coder:\n  - {reply}\n")


def test_reply_with_bad_delay(tmp_path):
    assert "coder[0]" in _load_error(tmp_path, "coder:\n  - {content: hi, delay_s: slow}\n")


def test_invalid_yaml(tmp_path):
    assert "not valid YAML" in _load_error(tmp_path, "coder: [unclosed\n")


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ScriptError) as info:
        ScriptedModel.load(path)
    assert str(path) in str(info.value) and "cannot read" in str(info.value)


# --- per-branch keys (role.branch) ---------------------------------------------


def test_branch_key_takes_its_own_queue_first():
    model = ScriptedModel({"coder": ["shared"], "coder.s1": ["own 1", "own 2"]})
    assert model.reply("coder.s1", ASK) == "own 1"
    assert model.reply("coder.s2", ASK) == "shared"  # no queue of its own
    assert model.reply("coder.s1", ASK) == "own 2"
    model.assert_complete()


def test_branch_with_its_own_queue_never_falls_back_to_the_shared_one():
    model = ScriptedModel({"coder": ["shared"], "coder.s1": ["own"]}, source="par.yaml")
    model.reply("coder.s1", ASK)
    with pytest.raises(ScriptExhausted) as info:
        model.reply("coder.s1", ASK)
    assert "'coder.s1'" in str(info.value) and "it had 1" in str(info.value)
    assert model.remaining() == {"coder": 1}


def test_branches_without_queues_share_their_roles_queue_in_call_order():
    model = ScriptedModel({"coder": ["c1", "c2", "c3"]})
    assert [model.reply(key, ASK) for key in ("coder.s2", "coder", "coder.s1")] == ["c1", "c2", "c3"]
    with pytest.raises(ScriptExhausted, match=r"role 'coder' \(asked as 'coder.s3'\) has no scripted reply left"):
        model.reply("coder.s3", ASK)


def test_calls_record_the_key_asked_with():
    model = ScriptedModel({"coder": ["shared"], "coder.s1": ["own"]})
    model.reply("coder.s1", ASK)
    model.reply("coder.s2", ASK)
    assert [(c.role, c.reply) for c in model.calls] == [("coder.s1", "own"), ("coder.s2", "shared")]


def test_branch_of_an_absent_role_names_both():
    model = ScriptedModel({"planner": ["p"]})
    with pytest.raises(ScriptExhausted) as info:
        model.reply("critic.red", ASK)
    assert "'critic.red' (nor for role 'critic')" in str(info.value) and "planner" in str(info.value)


def test_branch_names_may_contain_dots():
    model = ScriptedModel({"coder": ["shared"], "coder.v1.2": ["own"]})
    assert model.reply("coder.v1.2", ASK) == "own"
    assert model.reply("coder.v1.3", ASK) == "shared"


def test_start_at_with_branch_keys():
    """A resumed run skips what each branch used: its own queue's, else its role's shared queue's."""
    model = ScriptedModel(
        {"coder": ["c1", "c2", "c3", "c4"], "coder.s1": ["own 1", "own 2"], "critic": ["r1"]},
        start_at={"coder.s1": 1, "coder.s2": 1, "coder.s3": 2, "coder": 0, "critic.red": 1, "nobody.x": 5},
    )
    assert model.reply("coder.s1", ASK) == "own 2"
    assert model.reply("coder.s4", ASK) == "c4"  # s2 and s3 used c1..c3 between them
    assert model.remaining() == {}
    with pytest.raises(ScriptExhausted):
        model.reply("critic", ASK)  # critic.red had no queue: its call counted against critic's


def test_start_at_from_the_run_log_skips_branch_replies():
    """``calls_per_sender`` keys calls as the script does, so a resume continues each queue where it was."""
    from studio.bus.sqlite import calls_per_sender
    from studio.messages import Code, Usage

    logged = [Code(run_id="r", sender="coder", branch="s1", usage=Usage(calls=2)),
              Code(run_id="r", sender="coder", branch="s2", usage=Usage(calls=1)),
              Code(run_id="r", sender="coder", usage=Usage(calls=1))]
    assert calls_per_sender(logged) == {"coder.s1": 2, "coder.s2": 1, "coder": 1}
    model = ScriptedModel({"coder": ["main", "s2", "after"], "coder.s1": [{"error": "429"}, "s1"]},
                          start_at=calls_per_sender(logged))
    assert model.reply("coder", ASK) == "after"
    model.assert_complete()
