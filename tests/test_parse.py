"""Pulling JSON and code out of noisy model replies."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from roles._parse import ParseError, extract_code, extract_json, parse_model


class Reply(BaseModel):
    verdict: str
    score: int


# --- extract_json ------------------------------------------------------------


def test_plain_json():
    assert extract_json('{"verdict": "approve", "score": 3}') == {"verdict": "approve", "score": 3}


def test_json_in_prose():
    text = 'Sure! Here is my answer: {"verdict": "approve", "score": 3} Hope that helps.'
    assert extract_json(text) == {"verdict": "approve", "score": 3}


def test_json_in_fence():
    text = 'My review:\n```json\n{\n  "verdict": "revise",\n  "score": 1\n}\n```\nThanks.'
    assert extract_json(text) == {"verdict": "revise", "score": 1}


def test_trailing_commas_are_forgiven():
    text = 'Result: {"steps": [{"id": "s1",}, {"id": "s2"},], "done": true,}'
    assert extract_json(text) == {"steps": [{"id": "s1"}, {"id": "s2"}], "done": True}


def test_nested_braces_give_the_outer_object():
    text = 'a {"o": {"i": {"j": 1}}, "k": 2} b'
    assert extract_json(text) == {"o": {"i": {"j": 1}}, "k": 2}


def test_braces_inside_strings():
    text = 'note {"code": "def f(): return {1: \'}\'}", "n": "{"} end'
    assert extract_json(text) == {"code": "def f(): return {1: '}'}", "n": "{"}


def test_escaped_quotes_inside_strings():
    assert extract_json('x {"msg": "say \\"hi\\""} y') == {"msg": 'say "hi"'}


def test_escaped_quote_before_brace_inside_string():
    text = 'Here: {"msg": "use \\"}\\" here", "n": 1} done'
    assert extract_json(text) == {"msg": 'use "}" here', "n": 1}


def test_first_object_wins_and_invalid_candidates_are_skipped():
    text = 'not json {oops} then {"a": 1} and {"b": 2}'
    assert extract_json(text) == {"a": 1}


@pytest.mark.parametrize("text", ["", "no json here", "a { broken: yes", "}{"])
def test_no_json_raises(text):
    with pytest.raises(ParseError, match="no JSON object"):
        extract_json(text)


# --- parse_model -------------------------------------------------------------


def test_parse_model_validates():
    reply = parse_model('ok: {"verdict": "approve", "score": "4"}', Reply)
    assert reply == Reply(verdict="approve", score=4)


def test_parse_model_names_the_wrong_field():
    with pytest.raises(ParseError) as info:
        parse_model('{"verdict": "approve", "score": "lots"}', Reply)
    message = str(info.value)
    assert "expected shape" in message and "score:" in message
    assert "verdict" not in message


def test_parse_model_names_the_missing_field():
    with pytest.raises(ParseError, match="score: Field required"):
        parse_model('{"verdict": "approve"}', Reply)


def test_parse_model_without_json():
    with pytest.raises(ParseError, match="no JSON object"):
        parse_model("I approve.", Reply)


# --- extract_code ------------------------------------------------------------


def test_code_from_python_fence():
    text = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```\nDone."
    assert extract_code(text) == "def add(a, b):\n    return a + b"


def test_python_block_is_preferred():
    text = "Install:\n```bash\npip install x\n```\nThen:\n```python\nprint(1)\n```\n"
    assert extract_code(text) == "print(1)"


@pytest.mark.parametrize("fence", ["```py", "```", "```Python", "```python title=x.py"])
def test_other_python_fences(fence):
    assert extract_code(f"Code:\n{fence}\nx = 1\n```\n") == "x = 1"


def test_other_language_is_used_when_nothing_better():
    assert extract_code("```bash\necho hi\n```") == "echo hi"


def test_language_can_be_chosen():
    text = "```python\nprint(1)\n```\n```sql\nSELECT 1;\n```"
    assert extract_code(text, language="sql") == "SELECT 1;"
    assert extract_code("```bash\nls\n```\n```sql\nSELECT 1;\n```", language="sql") == "SELECT 1;"


@pytest.mark.parametrize("text", ["print(1)", "```python print(1)```", "just words"])
def test_no_fence_raises(text):
    with pytest.raises(ParseError, match="no fenced code block"):
        extract_code(text)


CUT = ("```python\ndef rotate(items, k):\n    k %= len(items) or 1\n    return items[-k:] + items[:-k]\n\n\n"
       "# Example usage:\nrotate([1, 2, 3], 1) -> [3, 1, 2] and then rotate([1, 2")


def test_a_block_cut_at_the_token_limit_keeps_its_whole_lines_that_parse():
    assert extract_code(CUT) == ("def rotate(items, k):\n    k %= len(items) or 1\n    return items[-k:] + "
                                 "items[:-k]\n\n\n# Example usage:")
    assert extract_code("Here:\n```\nx = 1\ny = (2,") == "x = 1"  # a bare fence is Python too


@pytest.mark.parametrize(("text", "said"), [
    ("```python\n# only a comment\nfor (", "not closed, and no part of it parses"),
    ("```python\n", "not closed, and no part of it parses"),
    ("```bash\necho hi", "no fenced code block"),  # not Python: nothing to salvage
])
def test_an_unclosed_block_without_code_that_parses_raises(text, said):
    with pytest.raises(ParseError, match=said):
        extract_code(text)


def test_a_coder_reply_cut_in_its_code_is_run_as_it_is_not_repaired(script, home):
    from _replies import approve
    from conftest import duo_team

    from studio.llm import Gateway
    from studio.messages import Code, Error
    from studio.runner import run_team

    gateway = Gateway()
    model = script({"coder": [CUT], "critic": [approve()]})
    result = run_team(duo_team(5), "Write rotate(items, k).", model=model, gateway=gateway)
    assert not [m for m in result.messages if isinstance(m, Error)]
    assert [m.code for m in result.messages if isinstance(m, Code)] == [extract_code(CUT)]
    gateway.script(model).assert_complete()  # one coder reply: no repair was asked for
