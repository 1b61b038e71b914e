"""Budgets in the notebook: the live display's meter, a finished run's HTML, and exports that keep the budgets."""

from __future__ import annotations

import html
import importlib.util

import nbformat
from conftest import DEV_SCRIPT

from studio.api import Run
from studio.api.notebook import live_view, meter_html
from studio.export import to_notebook, to_script
from studio.messages import Code, Final, Usage
from studio.runner import run_team, shared_store
from studio.spec import Budget, TeamSpec

MODEL = f"scripted:{DEV_SCRIPT}"


def _totals(messages) -> tuple[int, int]:
    """Tokens and model calls, summed from the run log by hand."""
    return (sum(m.usage.prompt_tokens + m.usage.completion_tokens for m in messages),
            sum(m.usage.calls for m in messages))


class Handle:
    """What IPython's ``display(..., display_id=True)`` returns: every update is kept."""

    def __init__(self):
        self.updates: list[str] = []

    def update(self, obj):
        self.updates.append(obj._repr_html_())


def test_meter_html_shows_spend_against_the_budget_in_total_and_per_role():
    messages = [Code(run_id="r", sender="coder", usage=Usage(prompt_tokens=1200, completion_tokens=34,
                                                              cost_usd=0.0125, latency_ms=1500, calls=2)),
                Final(run_id="r", sender="system", content="<done>", usage=Usage())]
    shown = meter_html(messages, Budget(tokens=20000, seconds=60), {"coder": Budget(model_calls=5),
                                                                     "critic": Budget(usd=0.1)}, seconds=12.34)
    assert "spent: tokens 1,234/20,000 · $0.0125 · 12.3s/60s · calls 2</p>" in shown
    assert "<li>coder: tokens 1,234 · $0.0125 · 1.5s · calls 2/5</li>" in shown
    assert "<li>critic: tokens 0 · $0.0000/$0.10 · 0.0s · calls 0</li>" in shown  # a budget, no spend
    assert "system" not in shown  # spent nothing, has no budget
    plain = meter_html(messages)
    assert "no run budget" in plain and "/" not in html.unescape(plain).split("spent:")[1].split("</p>")[0]


def test_the_live_display_meters_the_run_as_messages_arrive_and_ends_on_the_logs_sums(dev_team):
    handle = Handle()
    view = live_view(dev_team, display=lambda obj, display_id: handle, budget=Budget(model_calls=3))
    assert view is not None and view.budget == Budget(model_calls=3)
    result = run_team(dev_team, "Write fizzbuzz", model=MODEL, budget=Budget(model_calls=3),
                      on_message=view.message, on_turn=view.turn, on_token=view.token)
    view.close(result.status)
    assert result.status == "budget"
    metered = [u for u in handle.updates if "spent: tokens" in u]
    assert len(metered) == len(handle.updates) >= 3  # every update carries the meter
    calls_seen = [int(u.split("calls ")[1].split("/")[0].split("<")[0].split(" ")[0]) for u in metered]
    assert calls_seen == sorted(calls_seen) and calls_seen[0] < calls_seen[-1]  # it went up as the run went on
    tokens, calls = _totals(shared_store().messages(result.run_id))
    assert f"spent: tokens {tokens:,} · $0.0000 · " in handle.updates[-1]
    assert f"calls {calls}/3</p>" in handle.updates[-1] and calls == 3


def test_a_finished_runs_html_shows_its_meter_and_why_it_stopped(dev_team):
    result = run_team(dev_team, "Write fizzbuzz", model=MODEL, budget=Budget(tokens=50000, model_calls=3))
    run = Run.load(result.run_id)
    shown = run._repr_html_()
    tokens, calls = _totals(run.messages)
    assert f"spent: tokens {tokens:,}/50,000 · $0.0000 · " in shown and f"calls {calls}/3" in shown
    assert "· budget · " in shown and "model-call budget (3) is reached" in shown


def _budgeted() -> TeamSpec:
    return TeamSpec.model_validate({
        "name": "thrifty", "budget": {"tokens": 20000, "usd": 0.5, "seconds": 90},
        "roles": [{"name": "coder", "kind": "coder", "budget": {"model_calls": 4}},
                  {"name": "critic", "kind": "critic", "budget": {"tokens": 3000, "seconds": 12.5}}],
        "flow": {"edges": [{"from": "coder", "to": "critic"}]},
    })


def test_an_exported_script_and_notebook_keep_the_team_and_role_budgets(tmp_path):
    spec = _budgeted()
    path = tmp_path / "thrifty.py"
    path.write_text(to_script(spec))
    loaded = importlib.util.spec_from_file_location("exported_thrifty", path)
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    assert module.build_team().spec == spec
    notebook = to_notebook(spec)
    nbformat.validate(nbformat.from_dict(notebook))
    scope: dict = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and "team" not in scope:
            exec("".join(cell["source"]), scope)
    assert scope["team"].spec.budget == spec.budget
    assert scope["team"].spec.role("critic").budget == Budget(tokens=3000, seconds=12.5)
