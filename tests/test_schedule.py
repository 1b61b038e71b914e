"""The per-provider scheduler: concurrency and rate limits shared by every gateway in the process.

Timings are asserted only as generous lower bounds (a slow CI machine makes waits longer, never shorter);
everything else is counts and order.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from studio.llm import CallSettings, Gateway, provider_of
from studio.llm import gateway as llm
from studio.llm.schedule import ENV_VAR, SCHEDULER, Scheduler, parse_limits
from studio.llm.scripted import ScriptedModel
from studio.spec.flow import ProviderLimits

MSGS = [{"role": "user", "content": "hi"}]


def _run_threads(targets) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a call never got a slot"


def _wait_until(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


class _Peak:
    """Counts calls inside a block; the first ones wait until ``limit`` are in, so the peak is reached."""

    def __init__(self, limit: int):
        self.limit, self.active, self.peak = limit, 0, 0
        self.lock, self.full = threading.Lock(), threading.Event()

    def inside(self) -> None:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            if self.active >= self.limit:
                self.full.set()
        self.full.wait(timeout=10)  # a limit that let fewer in would time out here and show as a low peak
        with self.lock:
            self.active -= 1


def test_concurrency_limit_is_respected():
    scheduler = Scheduler(environ={})
    scheduler.configure("openai", ProviderLimits(max_concurrency=2))
    peak = _Peak(2)

    def call():
        with scheduler.slot("openai"):
            peak.inside()

    _run_threads([call] * 8)
    assert peak.peak == 2
    stats = scheduler.stats("openai")
    assert (stats.calls, stats.in_flight, stats.waiting) == (8, 0, 0)


def test_providers_do_not_share_limits():
    scheduler = Scheduler(environ={})
    scheduler.configure("openai", ProviderLimits(max_concurrency=1))
    with scheduler.slot("openai"):
        with scheduler.slot("anthropic") as other:  # would deadlock if openai's limit applied
            assert other.provider == "anthropic"
        assert scheduler.stats("openai").in_flight == 1


def test_waiting_call_reports_its_wait():
    scheduler = Scheduler(environ={})
    scheduler.configure("openai", ProviderLimits(max_concurrency=1))
    waited: list[float] = []

    def second():
        with scheduler.slot("openai") as slot:
            waited.append(slot.waited_s)

    with scheduler.slot("openai"):
        thread = threading.Thread(target=second)
        thread.start()
        _wait_until(lambda: scheduler.stats("openai").waiting == 1)
        time.sleep(0.2)  # the second call asked before this: it waits at least this long
    thread.join(timeout=10)
    assert waited[0] >= 0.19
    assert scheduler.stats("openai").wait_s >= 0.19


def test_rate_limit_spaces_starts():
    scheduler = Scheduler(environ={})
    scheduler.configure("openai", ProviderLimits(requests_per_minute=600))  # one start per 0.1 s
    began = time.monotonic()
    starts: list[float] = []
    lock = threading.Lock()

    def call():
        with scheduler.slot("openai"):
            with lock:
                starts.append(time.monotonic())

    _run_threads([call] * 4)
    # reservations are 0.1 s apart from the first, so the last start is at least 0.3 s in, however slow
    # the machine (the gaps between starts as seen by each thread can shrink when a thread is descheduled)
    assert len(starts) == 4 and max(starts) - began >= 0.29
    assert scheduler.stats("openai").calls == 4


def test_rate_limit_does_not_block_other_providers():
    scheduler = Scheduler(environ={})
    scheduler.configure("openai", ProviderLimits(requests_per_minute=1))  # the second start is 60 s away
    with scheduler.slot("openai"):
        pass
    blocked = threading.Thread(target=lambda: scheduler.slot("openai").__enter__(), daemon=True)
    blocked.start()
    _wait_until(lambda: scheduler.stats("openai").in_flight == 1)  # admitted, sleeping until its start
    with scheduler.slot("anthropic") as slot:  # no lock is held while openai's call sleeps
        assert slot.provider == "anthropic"


def test_raising_the_limit_wakes_waiting_calls():
    scheduler = Scheduler(environ={})
    scheduler.configure("openai", ProviderLimits(max_concurrency=1))
    release = threading.Event()
    entered = threading.Semaphore(0)

    def call():
        with scheduler.slot("openai"):
            entered.release()
            release.wait(timeout=30)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    assert entered.acquire(timeout=10)
    _wait_until(lambda: scheduler.stats("openai").waiting == 2)
    scheduler.configure("openai", ProviderLimits(max_concurrency=3))  # while one call is in flight
    assert entered.acquire(timeout=10) and entered.acquire(timeout=10)
    assert scheduler.stats("openai").in_flight == 3
    release.set()
    for t in threads:
        t.join(timeout=10)


def test_lowering_the_limit_lets_calls_in_flight_finish():
    scheduler = Scheduler(environ={})
    scheduler.configure("openai", ProviderLimits(max_concurrency=3))
    first, second = scheduler.slot("openai"), scheduler.slot("openai")
    first.__enter__()
    second.__enter__()
    scheduler.configure("openai", ProviderLimits(max_concurrency=1))
    got = threading.Event()

    def third():
        with scheduler.slot("openai"):
            got.set()

    thread = threading.Thread(target=third)
    thread.start()
    _wait_until(lambda: scheduler.stats("openai").waiting == 1)
    first.__exit__(None, None, None)
    assert not got.wait(timeout=0.1), "one call still in flight: the new limit of 1 is full"
    second.__exit__(None, None, None)
    assert got.wait(timeout=10)
    thread.join(timeout=10)


def test_defaults_local_runs_one_at_a_time_others_unlimited():
    scheduler = Scheduler(environ={})
    assert scheduler.limits("local") == ProviderLimits(max_concurrency=1)
    assert scheduler.limits("openai") == ProviderLimits()
    assert provider_of("local/smollm2") == "local"
    assert SCHEDULER.limits("local").max_concurrency is not None


def test_last_configuration_wins():
    scheduler = Scheduler(environ={})
    scheduler.configure("openai", ProviderLimits(max_concurrency=2, requests_per_minute=100))
    scheduler.configure("openai", ProviderLimits(max_concurrency=5))
    assert scheduler.limits("openai") == ProviderLimits(max_concurrency=5)
    assert scheduler.providers() == ["openai"]


# --- HUDDLE_PROVIDER_LIMITS ----------------------------------------------------------------


def test_env_var_sets_the_process_defaults():
    scheduler = Scheduler(environ={ENV_VAR: "openai=8:500, anthropic=4,local=2, ollama=:30"})
    assert scheduler.limits("openai") == ProviderLimits(max_concurrency=8, requests_per_minute=500)
    assert scheduler.limits("anthropic") == ProviderLimits(max_concurrency=4)
    assert scheduler.limits("local") == ProviderLimits(max_concurrency=2)  # replaces the built-in default
    assert scheduler.limits("ollama") == ProviderLimits(requests_per_minute=30)
    assert scheduler.limits("groq") == ProviderLimits()
    scheduler.configure("openai", ProviderLimits(max_concurrency=1))  # a spec's limits come later and win
    assert scheduler.limits("openai") == ProviderLimits(max_concurrency=1)


def test_env_var_is_read_once_at_first_use():
    environ = {ENV_VAR: "openai=3"}
    scheduler = Scheduler(environ=environ)
    environ[ENV_VAR] = "openai=9"  # not read yet: the first use sees this
    assert scheduler.limits("openai").max_concurrency == 9
    environ[ENV_VAR] = "openai=1"
    assert scheduler.limits("openai").max_concurrency == 9


def test_env_var_read_from_the_environment(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "anthropic=2")
    assert Scheduler().limits("anthropic").max_concurrency == 2


def test_empty_env_var_is_no_limits():
    assert parse_limits("") == {} and parse_limits(" , ") == {}


@pytest.mark.parametrize("entry", ["openai", "openai=", "openai=x", "openai=0", "openai=4:fast", "openai=4:0",
                                   "=4", "openai=:"])
def test_malformed_env_var_names_the_variable_and_the_entry(entry):
    with pytest.raises(ValueError) as info:
        parse_limits(f"anthropic=4,{entry}")
    message = str(info.value)
    assert ENV_VAR in message and repr(entry) in message and "PROVIDER=CONCURRENCY" in message


def test_malformed_env_var_fails_when_a_gateway_is_made():
    scheduler = Scheduler(environ={ENV_VAR: "openai=eight"})
    with pytest.raises(ValueError, match=f"{ENV_VAR}: bad entry 'openai=eight'"):
        Gateway(scheduler=scheduler)
    with pytest.raises(ValueError, match=ENV_VAR):  # and on every later use, not only the first
        scheduler.limits("openai")


# --- through the gateway -------------------------------------------------------------------


class _Asking:
    """Wraps a gateway's own semaphore to tell when a call has asked for it."""

    def __init__(self, inner):
        self.inner, self.asked = inner, threading.Semaphore(0)

    def __enter__(self):
        self.asked.release()
        return self.inner.__enter__()

    def __exit__(self, *exc):
        return self.inner.__exit__(*exc)


def _in_thread(gateway: Gateway, model: str, role: str = "coder") -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(gateway.complete(model, MSGS, role=role)))
    thread.start()
    return thread, out


def test_queue_time_behind_the_gateways_own_limit(script):
    """With ``max_concurrency=1`` a second call waits for the first's slot, and says so on its usage."""
    model = script({"coder": [{"content": "slow", "delay_s": 0.3}, "quick"]})
    gateway = Gateway(max_concurrency=1, scheduler=Scheduler(environ={}))
    gateway._slots = asking = _Asking(gateway._slots)
    gateway.script(model)
    began = time.perf_counter()
    first, first_out = _in_thread(gateway, model)
    _wait_until(lambda: gateway.scheduler.stats("scripted").in_flight == 1)  # holds the gateway's only slot
    second, second_out = _in_thread(gateway, model)
    for _ in range(2):
        assert asking.asked.acquire(timeout=10)
    asked_by = time.perf_counter()  # the second call asked before now
    first.join(timeout=10)
    second.join(timeout=10)
    assert [c.reply for c in gateway.script(model).calls] == ["slow", "quick"]
    # the first reply cannot end before began + 0.3 s, and the second asked before asked_by: it waited at
    # least the difference (about 0.3 s; less, never wrongly, on a machine slow to start threads)
    assert second_out[0].usage.queue_ms / 1000 >= began + 0.3 - asked_by - 0.01
    assert 0 < second_out[0].usage.queue_ms <= second_out[0].usage.latency_ms
    total = first_out[0].usage + second_out[0].usage
    assert total.queue_ms == first_out[0].usage.queue_ms + second_out[0].usage.queue_ms


def test_queue_time_behind_the_providers_limit(script):
    model = script({"coder": ["done"]})
    scheduler = Scheduler(environ={})
    gateway = Gateway(max_concurrency=8, limits={"scripted": ProviderLimits(max_concurrency=1)}, scheduler=scheduler)
    with scheduler.slot("scripted"):  # something else holds the provider's only slot
        thread, out = _in_thread(gateway, model)
        _wait_until(lambda: scheduler.stats("scripted").waiting == 1)
        time.sleep(0.2)
    thread.join(timeout=10)
    assert out[0].text == "done" and out[0].usage.queue_ms >= 190
    assert scheduler.stats("scripted").calls == 2


def test_limits_are_shared_by_two_gateways(script):
    """Two runs in one process (a gateway each): a limit set by one queues the other's calls."""
    model = script({"coder": ["one", "two"]})
    scheduler = Scheduler(environ={})
    first = Gateway(max_concurrency=4, scheduler=scheduler)
    second = Gateway(max_concurrency=4, limits={"scripted": ProviderLimits(max_concurrency=1)}, scheduler=scheduler)
    done: list = []
    with scheduler.slot("scripted"):
        a, a_out = _in_thread(first, model)
        b, b_out = _in_thread(second, model)
        _wait_until(lambda: scheduler.stats("scripted").waiting == 2)  # both runs queue for the one slot
        time.sleep(0.2)
    for thread, out in ((a, a_out), (b, b_out)):
        thread.join(timeout=10)
        done += out
    assert sorted(c.text for c in done) == ["one", "one"]  # each gateway has its own copy of the script
    assert all(c.usage.queue_ms >= 190 for c in done)


def test_concurrency_shared_by_two_gateways_never_exceeds_the_limit(script, monkeypatch):
    model = script({"coder": ["x"] * 6})
    scheduler = Scheduler(environ={})
    gateways = [Gateway(max_concurrency=4, limits={"scripted": ProviderLimits(max_concurrency=2)},
                        scheduler=scheduler) for _ in range(2)]
    for gateway in gateways:
        gateway.script(model)  # load once, before the threads race
    peak = _Peak(2)
    real = ScriptedModel.reply

    def counting(self, role, messages):
        peak.inside()
        return real(self, role, messages)

    monkeypatch.setattr(ScriptedModel, "reply", counting)
    _run_threads([lambda g=g: g.complete(model, MSGS, role="coder") for g in gateways * 3])
    assert peak.peak == 2  # each gateway alone would allow 4
    assert scheduler.stats("scripted").calls == 6


def test_back_off_sleeps_outside_the_slots(script, monkeypatch):
    """A retrying call frees its slots while it backs off, so other calls can go on."""
    model = script({"coder": [{"error": "429"}, "done"]})
    scheduler = Scheduler(environ={})
    gateway = Gateway(max_concurrency=1, limits={"scripted": ProviderLimits(max_concurrency=1)}, scheduler=scheduler)
    seen: list[tuple[int, bool]] = []

    def sleep(seconds):
        free = gateway._slots.acquire(blocking=False)
        if free:
            gateway._slots.release()
        seen.append((scheduler.stats("scripted").in_flight, free))

    monkeypatch.setattr(llm, "time", SimpleNamespace(perf_counter=time.perf_counter, sleep=sleep))
    reply = gateway.complete(model, MSGS, role="coder", settings=CallSettings(retries=1, retry_backoff_s=1.0))
    assert reply.text == "done" and reply.usage.calls == 2
    assert seen == [(0, True)]
