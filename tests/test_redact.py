"""Secrets never reach the run log, even when a provider echoes them in an error."""

from __future__ import annotations

import time

import pytest
from _replies import decide

from studio.bus.sqlite import RunLog
from studio.redact import redact, redact_data, secret_values
from studio.runner import run_team

SECRET = "sk-test-0123456789abcdefSECRET"


def test_provider_error_echoing_the_key_is_redacted_in_the_log(dev_team, script, home, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    model = script({"orchestrator": [decide("coder")], "coder": [{"error": f"invalid key {SECRET}"}] * 3})
    result = run_team(dev_team, "x", model=model)
    assert result.status == "failed"
    assert SECRET not in result.error and "[redacted OPENAI_API_KEY]" in result.error
    db = (home / "runs.db").read_bytes() + (home / "runs.db-wal").read_bytes()
    assert SECRET.encode() not in db
    assert SECRET not in (RunLog(home / "runs.db").get_run(result.run_id).error or "")


def test_key_shaped_strings_are_redacted_without_an_env_var():
    assert redact("bad key sk-proj-abcdefghijklmnop1234 given") == "bad key [redacted key] given"
    assert redact("nothing secret here") == "nothing secret here"


SHAPES = {
    "postgres URL": ("postgresql://app:Pa55word@db:5432/prod", "postgresql://app:[redacted]@db:5432/prod"),
    "redis URL, no user": ("redis://:s3cretpw@cache:6379/0", "redis://:[redacted]@cache:6379/0"),
    "mysql URL": ("mysql://root:rootpw1@127.0.0.1/x", "mysql://root:[redacted]@127.0.0.1/x"),
    "mongodb+srv, '@' in the password": ("mongodb+srv://u:p@ss1@c0.x.net/db", "mongodb+srv://u:[redacted]@c0.x.net/db"),
    "amqp URL": ("amqp://guest:guestpw@rabbit//", "amqp://guest:[redacted]@rabbit//"),
    "any scheme": ("git+https://bot:tok3n@git.example/r.git", "git+https://bot:[redacted]@git.example/r.git"),
    "OpenAI project key": ("key sk-proj-abcDEF123456ghiJKL789", "key [redacted key]"),
    "Anthropic key": ("sk-ant-api03-abcdEFGH1234ijklMNOP", "[redacted key]"),
    "AWS access key id": ("id=AKIAIOSFODNN7EXAMPLE;", "id=[redacted key];"),
    "GitHub token": ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "[redacted key]"),
    "GitHub OAuth token": ("gho_abcdefghijklmnopqrstuv01", "[redacted key]"),
    "GitHub fine-grained PAT": ("github_pat_11ABCDEFG0123456789_abcdefghijk", "[redacted key]"),
    "Slack token": ("xoxb-1234567890-abcdefghij", "[redacted key]"),
    "Google API key": ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "[redacted key]"),
    "Hugging Face token": ("hf_abcdefghijklmnopqrstuvwxyzABCDEFGH", "[redacted key]"),
    "JWT": ("t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl", "t=[redacted token]"),
    "Bearer token": ("Authorization: Bearer abcdef0123456789xyz", "Authorization: Bearer [redacted token]"),
    "private key block": ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----"
                          " done", "[redacted private key] done"),
    "password=": ("login with password=hunter2 now", "login with password=[redacted] now"),
    "api_key: quoted": ('api_key: "abcd1234"', 'api_key: "[redacted]"'),
    "JSON token": ('{"token": "abcdefgh"}', '{"token": "[redacted]"}'),
    "env-style assignment": ("DB_PASSWORD=hunter22 x", "DB_PASSWORD=[redacted] x"),
    "query parameter": ("https://h/x?api_key=abc123&page=2", "https://h/x?api_key=[redacted]&page=2"),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_each_secret_shape_is_redacted_and_redacting_twice_changes_nothing(name):
    text, expected = SHAPES[name]
    assert redact(text) == expected
    assert redact(expected) == expected


@pytest.mark.parametrize("text", [
    "token = get_token()", "api_key = settings.api_key", 'secret = os.environ["SECRET"]', "password: str",
    "max_tokens=512", "hf_hub_download(repo_id)", "sk_learn_params = {}", "http://host:8080/a@b",
    "the secret: keep it simple", "secret=true", "token: Optional[str] = None", "mask-abcdefghijklmnop",
    "sorted(rows, key=lambda r: r[0])", "git@github.com:org/repo.git", "mailto:someone@example.com",
])
def test_ordinary_code_and_prose_are_left_alone(text):
    assert redact(text) == text


def test_passwords_of_urls_in_the_environment_are_secrets_wherever_they_appear(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:LongPassw0rd!@db/prod")
    assert secret_values()["DATABASE_URL password"] == "LongPassw0rd!"
    assert redact("login failed with LongPassw0rd!") == "login failed with [redacted DATABASE_URL password]"


def test_messages_are_redacted_field_by_field_and_keep_their_identity():
    """What the run log stores: text fields redacted, ids and structure untouched, nothing copied needlessly."""
    from studio.messages import Code, Plan, PlanStep

    clean = Code(run_id="r", sender="coder", content="fine", code="x = 1")
    assert redact_data(clean) is clean
    msg = Plan(run_id="r", sender="planner", content="use sk-proj-abcDEF123456ghiJKL789",
               steps=[PlanStep(id="s1", description="connect to redis://:s3cretpw@c:6379")])
    out = redact_data(msg)
    assert (out.id, out.run_id, out.created_at) == (msg.id, msg.run_id, msg.created_at)
    assert out.content == "use [redacted key]" and out.steps[0].description == "connect to redis://:[redacted]@c:6379"
    assert out.steps[0].id == "s1"


@pytest.mark.parametrize("text", [
    "sk-" * 40_000, "gsk_" * 30_000, "xai-" * 30_000, "-eyJ" * 30_000, "token=" * 20_000, 'token="' * 20_000,
    "api_key=api_key=" * 8_000, "key=" + "a.a" * 40_000 + "(", "Bearer " + "a-" * 60_000, "://a:" * 25_000,
    "-----BEGIN " + "A " * 60_000, "github_pat_" * 10_000, "password: " * 12_000,
])
def test_hostile_text_is_redacted_in_linear_time(text):
    """A message (or a team file) built to make the patterns backtrack: the time grows with the length, not its square.

    Compared with a quarter of the text in the same test (best of three each), so a loaded machine cannot fail it:
    linear time is about 4x, the quadratic patterns this guards against were 16x (7-35 s on 60-320 kB).
    """
    def best(sample: str) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            redact(sample)
            times.append(time.perf_counter() - started)
        return min(times)

    quarter, whole = best(text[: len(text) // 4]), best(text)
    assert whole < 10 * quarter + 0.05, (quarter, whole)


def test_a_long_text_is_redacted_again_once_the_environment_holds_a_new_secret(monkeypatch):
    """Long texts (prompts) are remembered once redacted; a secret set later is still found in them."""
    from studio.messages import Task

    text = "Connect with the token Zq8vN4mR7pL2xK9w and report. " + "Plain words follow. " * 20
    monkeypatch.delenv("HUDDLE_TEST_TOKEN", raising=False)
    assert redact(text) is text and redact(text) is text  # nothing secret: the text itself, twice
    task = Task(run_id="r", sender="user", content=text)
    assert redact_data(task) is task  # the message too: nothing copied
    monkeypatch.setenv("HUDDLE_TEST_TOKEN", "Zq8vN4mR7pL2xK9w")
    assert "Zq8vN4mR7pL2xK9w" not in redact(text) and "[redacted HUDDLE_TEST_TOKEN]" in redact(text)
    assert "Zq8vN4mR7pL2xK9w" not in redact_data(task).content
    monkeypatch.delenv("HUDDLE_TEST_TOKEN")
    assert redact(text) is text


def test_a_shared_dict_is_passed_over_only_while_it_holds_no_secret(monkeypatch):
    """A reply schema is shared by every request of a run: walked once per set of secrets, never trusted blindly."""
    from studio.redact import shared

    monkeypatch.delenv("HUDDLE_TEST_TOKEN", raising=False)
    schema = shared({"title": "Reply", "properties": {"answer": {"description": "uses Zq8vN4mR7pL2xK9w"}}})
    request = {"messages": [{"role": "user", "content": "hi"}], "schema": schema}
    assert redact_data(request) is request and redact_data(request) is request
    monkeypatch.setenv("HUDDLE_TEST_TOKEN", "Zq8vN4mR7pL2xK9w")
    out = redact_data(request)
    assert out["schema"]["properties"]["answer"]["description"] == "uses [redacted HUDDLE_TEST_TOKEN]"
    leaky = shared({"description": "key sk-proj-abcDEF123456ghiJKL789"})
    assert redact_data(leaky)["description"] == "key [redacted key]" == redact_data(leaky)["description"]
