"""Same-budget baselines: the team's coder model sampled, with no roles, as often as the team's tokens allow.

``sample-vote`` draws samples and keeps the one the team's output-agreement vote
(:func:`roles.vote.choose`) picks; ``retry`` draws until a sample passes the
task's own example (``roles.executor.given_tests``), or, for a task without
one, until a sample runs clean and defines the entry point. Both stop drawing
before the tokens spent plus the largest sample so far would pass what the team
spent on the task (at least one sample, at most :data:`MAX_SAMPLES`); when the
team spent no tokens (a model that reports no usage) they draw the flow's
``candidates`` samples. The first sample is at the team's temperature, the
others at ``max(that, hotter)``, as the team's own candidates (``hotter``: the team's
``flow.candidate_temperature``, :data:`~pipelines.best_of_n.CANDIDATE_TEMPERATURE` by default).

With a fixed token budget per task (``huddle eval --budget-tokens N``: ``strict``), the budget is N
instead of the team's tokens, and a hard limit: each sample's ``max_tokens`` is capped so that its
prompt plus ``max_tokens`` fits in what is left, and no sample is asked for that cannot fit.

Each run is in the run log as team ``<name> baseline``: the task, then every
sample as a ``code`` message from ``baseline`` whose content says which was
chosen. Scripted replies come from ``baseline.<name>`` (``baseline.retry``),
else from the shared ``baseline`` queue.

Example:
    >>> temperature_of(CallSettings(temperature=0.2), 0), temperature_of(CallSettings(temperature=0.2), 1)
    (0.2, 0.8)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

from pipelines.best_of_n import CANDIDATE_TEMPERATURE, candidate_temperature
from roles._parse import ParseError, extract_code
from roles.executor import SOLUTION, TESTS, given_tests
from roles.vote import choose
from sandbox import Sandbox
from studio.bus import Bus
from studio.eval.harness import (
    BASELINE_ROLE,
    BASELINE_SYSTEM,
    baseline_spec,
    baseline_team,
    defines,
    grade,
    run_baseline,
    short_text,
)
from studio.eval.report import System, TaskResult
from studio.eval.tasks import EvalTask
from studio.home import huddle_home
from studio.llm import CallSettings, Gateway, ModelCallError
from studio.llm.budget import count_prompt_tokens
from studio.llm.scripted import ScriptExhausted
from studio.messages import Code, Error, Task, Usage, new_id
from studio.redact import redact
from studio.runner import shared_store
from studio.spec import SandboxSpec

__all__ = ["MAX_SAMPLES", "SAMPLED", "run_named", "run_sampled", "temperature_of"]

MAX_SAMPLES = 64
"""The most samples a baseline draws on one task, whatever the team spent."""
SAMPLED = ("sample-vote", "retry")
"""The baselines this module runs (``single-call`` is :func:`studio.eval.harness.run_baseline`)."""


@dataclass(frozen=True)
class _Sample:
    text: str
    code: str | None
    """The reply's code block; ``None`` when it had none."""
    usage: Usage
    temperature: float

    @property
    def tokens(self) -> int:
        return self.usage.prompt_tokens + self.usage.completion_tokens


def temperature_of(settings: CallSettings, index: int, hotter: float = CANDIDATE_TEMPERATURE) -> float:
    """Sample ``index``'s temperature: the team's for the first, at least ``hotter`` after."""
    return candidate_temperature(settings.temperature, index, hotter)


class _NoRoom(Exception):
    """A strict budget has no room left for another sample's prompt and one token of reply."""


def _draw(ask: Callable[[int, int], _Sample], budget: int, fallback: int,
          done: Callable[[_Sample], bool]) -> tuple[list[_Sample], str, bool]:
    """Samples drawn within ``budget`` tokens (``fallback`` of them when it is 0), until ``done`` says stop.

    ``ask(index, spent)`` draws sample ``index`` with ``spent`` tokens already spent (it raises
    :class:`_NoRoom` when a strict budget cannot hold it).

    Returns:
        (the samples, the error that ended the drawing or "", whether the budget ended it).
    """
    samples: list[_Sample] = []
    spent = largest = 0
    most = MAX_SAMPLES if budget > 0 else min(max(fallback, 1), MAX_SAMPLES)
    while len(samples) < most:
        if samples and budget > 0 and spent + largest > budget:
            return samples, "", True
        try:
            sample = ask(len(samples), spent)
        except _NoRoom:
            return samples, "", True
        except (ModelCallError, ScriptExhausted) as exc:
            return samples, redact(str(exc)), False
        samples.append(sample)
        spent, largest = spent + sample.tokens, max(largest, sample.tokens)
        if done(sample):
            break
    return samples, "", False


def _passes_example(task: EvalTask, code: str | None, sandbox: Sandbox, index: int) -> bool:
    """Whether ``code`` passes the example the task gives; without one, runs clean and defines the entry point."""
    if code is None:
        return False
    example = given_tests(task.prompt)
    if not example:
        result = sandbox.run({SOLUTION: code}, entry=SOLUTION, name=f"retry-{index + 1}")
        return result.ok and defines(code, task.entry_point)
    result = sandbox.run({SOLUTION: code, TESTS: example}, entry=SOLUTION, tests=[TESTS], name=f"retry-{index + 1}")
    return result.ok and result.passed > 0


def run_sampled(system: str, task: EvalTask, model: str, home: str | Path | None = None, *, budget: int,
                fallback: int = 3, gateway: Gateway | None = None, settings: CallSettings | None = None,
                sandbox: SandboxSpec | None = None, strict: bool = False,
                hotter: float = CANDIDATE_TEMPERATURE) -> TaskResult:
    """Run the ``sample-vote`` or ``retry`` baseline on ``task`` within ``budget`` tokens; graded like the team.

    The result's ``budget_stop`` (``strict`` only) says the budget ran out before ``retry`` had a
    sample that passed, or before any sample could be drawn.

    Args:
        system: ``sample-vote`` or ``retry``.
        task: the task (only its prompt goes to the model).
        model: the model to call (the team coder's).
        home: state folder; ``$HUDDLE_HOME`` by default.
        budget: the tokens the team spent on the task (``strict``: the budget per task); 0 draws ``fallback``
            samples.
        fallback: the samples to draw when ``budget`` is 0 (the flow's ``candidates``).
        gateway: the gateway to call through (an evaluation shares one, so scripts continue).
        settings: the team's temperature, max tokens, timeout and retries.
        sandbox: limits for the example and the hidden tests; the defaults when omitted.
        strict: ``budget`` is a hard limit (``--budget-tokens``): each sample's ``max_tokens`` is capped to
            fit in what is left, and drawing stops when not even the prompt fits.
        hotter: the least temperature of the samples after the first (the team's ``flow.candidate_temperature``).
    """
    if system not in SAMPLED:
        raise ValueError(f"unknown sampled baseline {system!r}: expected one of {', '.join(SAMPLED)}")
    home, box, settings = huddle_home(home), sandbox or SandboxSpec(), settings or CallSettings()
    gateway = gateway or Gateway()
    started = time.monotonic()
    log, run_id = shared_store(home), new_id()
    bus = Bus(log)
    log.create_run(run_id, team=baseline_team(system), task=task.prompt, model=model,
                   spec=baseline_spec(model, box, baseline_team(system)))
    first = Task(run_id=run_id, sender="user", content=task.prompt)
    bus.publish(first)
    box_run = Sandbox(box.model_copy(update={"enabled": True}), home / "workspaces" / f"eval-{run_id}")
    prompt = [{"role": "system", "content": BASELINE_SYSTEM}, {"role": "user", "content": task.prompt}]
    prompt_tokens = count_prompt_tokens(model, prompt) if strict else 0

    def ask(index: int, spent: int) -> _Sample:
        temperature = temperature_of(settings, index, hotter)
        room = min(settings.max_tokens, budget - spent - prompt_tokens) if strict else settings.max_tokens
        if room < 1:
            raise _NoRoom
        reply = gateway.complete(model, prompt, role=f"{BASELINE_ROLE}.{system}",
                                 settings=replace(settings, temperature=temperature, max_tokens=room))
        try:
            code: str | None = extract_code(reply.text)
        except ParseError:
            code = None
        return _Sample(reply.text, code, reply.usage, temperature)

    passed: list[bool] = []

    def done(sample: _Sample) -> bool:
        if system != "retry":
            return False
        passed.append(_passes_example(task, sample.code, box_run, len(passed)))
        return passed[-1]

    samples, error, out_of_budget = _draw(ask, budget, fallback, done)
    chosen, why = _choose(system, task, samples, passed, box_run)
    _record(bus, run_id, first.id, system, samples, chosen, why)
    if error:
        bus.publish(Error(run_id=run_id, sender="system", error_type="provider", fatal=not samples, content=error))
    result = TaskResult(task.id, cast("System", system), passed=False, tests_total=task.hidden_tests(),
                        attempts=len(samples), tokens=sum(s.tokens for s in samples),
                        cost_usd=sum(s.usage.cost_usd for s in samples), run_id=run_id,
                        budget_stop=strict and out_of_budget and (system == "retry" or not samples))
    if chosen is None:
        if samples:
            reason = "no code block"
        elif error:
            reason = f"model call failed: {short_text(error)}"
        else:
            reason = f"no call: the token budget ({budget:,}) is reached: the prompt alone takes {prompt_tokens:,}"
        log.set_status(run_id, "failed", error or reason)
        return replace(result, reason=reason, seconds=time.monotonic() - started)
    log.set_status(run_id, "done")
    code = samples[chosen].code or ""
    ok, total, reason = grade(task, code, box, home, run_id)
    return replace(result, passed=not reason, tests_passed=ok, tests_total=total, reason=reason,
                   seconds=time.monotonic() - started)


def _choose(system: str, task: EvalTask, samples: list[_Sample], passed: list[bool],
            sandbox: Sandbox) -> tuple[int | None, str]:
    """(the chosen sample's index or ``None`` when none has code, why it was chosen)."""
    with_code = [i for i, s in enumerate(samples) if s.code is not None]
    if not with_code:
        return None, ""
    if system == "retry":
        if passed and passed[-1]:
            return len(passed) - 1, "the first to pass the task's example" if given_tests(task.prompt) else \
                "the first to run clean and define the entry point"
        return with_code[-1], "the last with code (none passed the example)"
    if len(with_code) == 1:
        return with_code[0], "the only one with code"
    picked = choose(task.prompt, [samples[i].code or "" for i in with_code], sandbox)
    return with_code[picked], f"the vote's pick of {len(with_code)} with code"


def _record(bus: Bus, run_id: str, parent: str, system: str, samples: list[_Sample], chosen: int | None,
            why: str) -> None:
    """Each sample as a ``code`` message (a reply without code as a parse error), the chosen one marked."""
    for i, sample in enumerate(samples):
        head = f"{system} sample {i + 1} of {len(samples)} (temperature {sample.temperature:g})"
        head += f": chosen, {why}" if i == chosen else ""
        if sample.code is None:
            bus.publish(Error(run_id=run_id, sender=BASELINE_ROLE, error_type="parse", fatal=False, parent_id=parent,
                              content=redact(f"{head}: no code block: {sample.text}"), usage=sample.usage))
        else:
            bus.publish(Code(run_id=run_id, sender=BASELINE_ROLE, content=redact(f"{head}\n\n{sample.text}"),
                             code=sample.code, parent_id=parent, usage=sample.usage))


def run_named(system: str, task: EvalTask, model: str, home: str | Path | None = None, *, budget: int,
              fallback: int = 3, gateway: Gateway | None = None, settings: CallSettings | None = None,
              sandbox: SandboxSpec | None = None, strict: bool = False,
              hotter: float = CANDIDATE_TEMPERATURE) -> TaskResult:
    """Run the baseline called ``system`` (any of :data:`studio.eval.report.BASELINES`) on ``task``.

    ``single-call`` is :func:`studio.eval.harness.run_baseline` (it ignores ``budget`` unless ``strict``,
    when ``budget`` caps its call); the others :func:`run_sampled`.
    """
    if system == "single-call":
        return run_baseline(task, model, home, gateway=gateway, settings=settings, sandbox=sandbox,
                            budget_tokens=budget if strict else None)
    return run_sampled(system, task, model, home, budget=budget, fallback=fallback, gateway=gateway,
                       settings=settings, sandbox=sandbox, strict=strict, hotter=hotter)
