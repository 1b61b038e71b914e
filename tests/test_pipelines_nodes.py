"""The pipelines' node functions one at a time, on scripted models, without compiling a flow.

Each node is a plain function of the state and the run's runtime (its context is a ``RunWiring``); what it
needs from the team is bound by keyword, as the builders bind it with ``functools.partial``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from _replies import approve, code
from langgraph.runtime import Runtime
from langgraph.types import Send

from pipelines import RunWiring, executing_roles
from pipelines._base import FINAL_NODE, LEDGER_NODE, new_graph
from pipelines._main import MainLine
from pipelines.best_of_n import CANDIDATE_TEMPERATURE, candidate_node, candidates, fan_out
from pipelines.cross_team import sub_team_results, subteam_node
from pipelines.magentic import after_progress, ledger_node
from pipelines.nodes import coder_context, final_node, role_node
from pipelines.parallel import JOIN, STEP, dispatch, join_node, step_node, waves_node
from pipelines.ranking import rank_node
from pipelines.sequential import after_orchestrator
from roles import RoleContext
from roles.ranker import judge_results, rank_candidates
from studio.llm import CallSettings, Gateway
from studio.messages import Code, Decision, Execution, Final, Ledger, Plan, PlanStep, Ranking, Review, Task
from studio.spec import parse_spec

RUN = "r1"
TASK = Task(run_id=RUN, sender="user", content="Write add(a, b).\nassert add(1, 2) == 3")


@dataclass(frozen=True)
class ScriptedRole:
    """A role's model on the scripted provider: calls are keyed ``role`` or ``role.branch``."""

    gateway: Gateway
    model: str
    key: str
    options: dict = field(default_factory=dict)
    asked: list = field(default_factory=list)
    """Every call's key and options (shared by the role's branches)."""

    def for_branch(self, branch: str, **options) -> ScriptedRole:
        return replace(self, key=f"{self.key}.{branch}", options=options)

    def __call__(self, messages, *, schema=None):
        self.asked.append((self.key, self.options))
        return self.gateway.complete(self.model, messages, role=self.key, settings=CallSettings(**self.options),
                                     schema=schema)


def team(*roles: tuple[str, str], **extra):
    return parse_spec({"name": "t", "roles": [{"name": n, "kind": k} for n, k in roles],
                       "memory": {"enabled": False}, "sandbox": {"enabled": False}, **extra})


def wired(spec, model: str | None = None, gateway: Gateway | None = None):
    """A runtime whose context has a scripted model per role; returns it and the list it publishes to."""
    gateway = gateway or Gateway()
    contexts = {r.name: RoleContext(RUN, r, spec, ScriptedRole(gateway, model or "scripted:none", r.name))
                for r in spec.roles}
    published: list = []
    return Runtime(context=RunWiring(RUN, contexts, published.extend)), published


def state(*messages, **extra):
    return {"transcript": [TASK, *messages], "turns": 0, **extra}


def ran(made: Code, ok: bool = True, branch: str = "") -> Execution:
    return Execution(run_id=RUN, sender=made.sender, parent_id=made.id, exit_code=0 if ok else 1, tests_run=True,
                     passed=1 if ok else 0, failed=0 if ok else 1, branch=branch)


# -- the main line ---------------------------------------------------------------------------------------------

def test_a_role_node_sees_the_main_line_publishes_and_counts_a_turn(script):
    spec = team(("coder", "coder"), ("critic", "critic"))
    gateway, model = Gateway(), script({"coder": [code("def add(a, b): return a + b")]})
    runtime, published = wired(spec, model, gateway)
    stray = Code(run_id=RUN, sender="coder", code="def stray(): pass", branch="c9")
    update = role_node(state(stray), runtime, spec=spec, name="coder")
    assert [m.kind for m in published] == ["code"] and update["transcript"] == published
    assert update["turns"] == 1
    assert "stray" not in gateway.script(model).calls[0].messages[-1]["content"]
    gateway.script(model).assert_complete()


def test_the_final_node_publishes_the_result_and_why_it_stopped():
    spec = team(("coder", "coder"), ("critic", "critic"))
    runtime, published = wired(spec)
    made = Code(run_id=RUN, sender="coder", code="def add(a, b): return a + b")
    verdict = Review(run_id=RUN, sender="critic", verdict="approve", parent_id=made.id)
    update = final_node(state(made, verdict), runtime, spec=spec)
    (final,) = published
    assert isinstance(final, Final) and final.approved and final.stop_reason == "approved"
    assert final.code == made.code and update["transcript"] == [final]


def test_the_latest_code_runs_in_its_writers_sandbox_or_for_an_edit_in_the_edited_codes():
    spec = team(("first", "coder"), ("second", "coder"))
    runtime, _ = wired(spec)
    box = object()
    wiring = replace(runtime.context, contexts={name: replace(ctx, sandbox=box)
                                                for name, ctx in runtime.context.contexts.items()})
    written = Code(run_id=RUN, sender="second", code="x = 1")
    edit = Code(run_id=RUN, sender="user", code="x = 2", parent_id=written.id)
    assert coder_context(spec, [TASK, written], wiring).role.name == "second"
    assert coder_context(spec, [TASK, written, edit], wiring).role.name == "second"
    orphan = Code(run_id=RUN, sender="user", code="x = 3")
    assert coder_context(spec, [TASK, orphan], wiring).role.name == "first"


def test_after_the_orchestrator_its_pick_speaks_or_the_run_ends():
    spec = team(("orchestrator", "orchestrator"), ("coder", "coder"))
    main = MainLine(spec, new_graph())
    pick = Decision(run_id=RUN, sender="orchestrator", next_speaker="coder")
    stranger = Decision(run_id=RUN, sender="orchestrator", next_speaker="nobody")
    assert after_orchestrator(state(pick), main=main) == "coder"
    assert after_orchestrator(state(stranger), main=main) == FINAL_NODE


# -- magentic --------------------------------------------------------------------------------------------------

def test_the_ledger_node_writes_the_task_ledger_and_clears_the_stall_counter(script):
    import json

    spec = team(("orchestrator", "orchestrator"), ("coder", "coder"), flow={"type": "magentic"})
    reply = json.dumps({"facts_given": ["the task"], "facts_to_look_up": [], "facts_to_derive": [],
                        "educated_guesses": [], "plan": ["coder: write add"], "reflection": ""})
    runtime, published = wired(spec, script({"orchestrator": [reply]}))
    update = ledger_node(state(stalls=2), runtime, spec=spec)
    assert [type(m) for m in published] == [Ledger] and published[0].plan == ["coder: write add"]
    assert update["stalls"] == 0


def test_after_the_progress_ledger_a_stall_replans_and_satisfaction_ends():
    spec = team(("orchestrator", "orchestrator"), ("coder", "coder"),
                flow={"type": "magentic", "max_stalls": 2, "max_replans": 1})
    main = MainLine(spec, new_graph(), plan_node=LEDGER_NODE)
    ledger = Ledger(run_id=RUN, sender="orchestrator")
    go_on = Decision(run_id=RUN, sender="orchestrator", next_speaker="coder")
    done = Decision(run_id=RUN, sender="orchestrator", is_request_satisfied=True)
    assert after_progress(state(ledger, go_on), main=main) == "coder"
    assert after_progress(state(ledger, done), main=main) == FINAL_NODE
    assert after_progress(state(ledger, go_on, stalls=2), main=main) == LEDGER_NODE
    assert after_progress(state(ledger, ledger, go_on, stalls=2), main=main) == FINAL_NODE  # no replan left


# -- parallel_plan ---------------------------------------------------------------------------------------------

PARALLEL = {"flow": {"type": "parallel_plan", "max_replans": 1}, "sandbox": {"enabled": True}}
PLAN = Plan(run_id=RUN, sender="planner", steps=[PlanStep(id="s1", description="parse"),
                                                  PlanStep(id="s2", description="sum", depends_on=["s1"])])


def step_code(step: str, text: str, ok: bool = True) -> list:
    made = Code(run_id=RUN, sender="coder", code=text, branch=step)
    return [made, ran(made, ok, branch=step)]


def test_dispatch_starts_the_ready_steps_then_joins():
    spec = team(("planner", "planner"), ("coder", "coder"), **PARALLEL)
    first = dispatch(state(PLAN), spec=spec)
    assert [(s.node, s.arg["branch"]) for s in first] == [(STEP, "s1")]
    second = dispatch(state(PLAN, *step_code("s1", "a = 1")), spec=spec)
    assert [s.arg["branch"] for s in second] == ["s2"]
    assert dispatch(state(PLAN, *step_code("s1", "a = 1"), *step_code("s2", "b = a")), spec=spec) == JOIN
    ask = Decision(run_id=RUN, sender="system", next_speaker="planner")
    assert dispatch(state(PLAN, ask), spec=spec) == "planner"


def test_a_step_node_works_in_its_branch_from_the_code_of_its_dependencies(script):
    spec = team(("planner", "planner"), ("coder", "coder"), **PARALLEL)
    gateway, model = Gateway(), script({"coder.s2": [code("total = a + 1")]})
    runtime, published = wired(spec, model, gateway)
    update = step_node(state(PLAN, *step_code("s1", "a = 1"), branch="s2"), runtime, spec=spec)
    assert [m.kind for m in update["transcript"]] == ["decision", "code"]
    assert {m.branch for m in update["transcript"]} == {"s2"} and published == update["transcript"]
    assert "Step s1 gave" in update["transcript"][0].instruction and "a = 1" in update["transcript"][0].instruction
    gateway.script(model).assert_complete()


def test_the_waves_node_asks_for_a_new_plan_only_when_a_step_failed_and_replans_are_left():
    spec = team(("planner", "planner"), ("coder", "coder"), **PARALLEL)
    runtime, published = wired(spec)
    assert waves_node(state(PLAN, *step_code("s1", "a = 1")), runtime, spec=spec) == {}
    update = waves_node(state(PLAN, *step_code("s1", "a = ", ok=False)), runtime, spec=spec)
    (ask,) = published
    assert update == {"transcript": [ask]} and ask.next_speaker == "planner" and "s1 (parse)" in ask.content
    published.clear()
    assert waves_node(state(PLAN, PLAN, *step_code("s1", "a = ", ok=False)), runtime, spec=spec) == {}
    assert published == []


def test_the_join_node_joins_the_done_steps_in_dependency_order():
    spec = team(("planner", "planner"), ("coder", "coder"), **PARALLEL)
    runtime, published = wired(spec)
    update = join_node(state(PLAN, *step_code("s2", "b = a"), *step_code("s1", "a = 1")), runtime, spec=spec)
    (joined,) = published
    assert joined.code == "a = 1\n\n\nb = a" and joined.parent_id == PLAN.id and not joined.branch
    assert update["turns"] == 1 and "steps s1, s2." in joined.content


# -- best_of_n and cross_team: candidates → rank → publish ----------------------------------------------------

BEST_OF = {"flow": {"type": "best_of_n", "candidates": 2}}


def test_best_of_n_fans_out_a_branch_per_candidate_and_later_ones_run_hotter(script):
    spec = team(("coder", "coder"), ("critic", "critic"), **BEST_OF)
    assert fan_out(state(), spec=spec) == [Send("_candidate", {"transcript": [TASK], "turns": 0, "branch": b})
                                           for b in ("c1", "c2")]
    gateway, model = Gateway(), script({"coder.c2": [code("def add(a, b): return a + b")]})
    runtime, published = wired(spec, model, gateway)
    update = candidate_node(state(branch="c2"), runtime, spec=spec)
    assert [(m.kind, m.branch) for m in update["transcript"]] == [("code", "c2")] and published
    assert runtime.context.contexts["coder"].model.asked == [("coder.c2", {"temperature": CANDIDATE_TEMPERATURE})]
    gateway.script(model).assert_complete()


def test_the_flow_sets_how_hot_the_later_candidates_run(script):
    spec = team(("coder", "coder"), ("critic", "critic"),
                flow={"type": "best_of_n", "candidates": 2, "candidate_temperature": 0.5})
    gateway, model = Gateway(), script({"coder.c2": [code("def add(a, b): return a + b")]})
    runtime, _ = wired(spec, model, gateway)
    candidate_node(state(branch="c2"), runtime, spec=spec)
    assert runtime.context.contexts["coder"].model.asked == [("coder.c2", {"temperature": 0.5})]


def test_the_rank_node_compares_the_candidates_and_the_best_continues_on_the_main_line(script):
    spec = team(("coder", "coder"), ("critic", "critic"), **BEST_OF)
    one = Code(run_id=RUN, sender="coder", code="def add(a, b): return a - b", branch="c1")
    two = Code(run_id=RUN, sender="coder", code="def add(a, b): return a + b", branch="c2")
    now = state(one, ran(one, ok=False, branch="c1"), two, ran(two, branch="c2"))
    assert [(c.name, c.code.id, c.execution.ok) for c in candidates(now, spec)] == [("c1", one.id, False),
                                                                                 ("c2", two.id, True)]
    reply = '{"best": "c2", "verdict": "approve", "feedback": "c2 passes.", "lessons": []}'
    runtime, published = wired(spec, script({"critic": [reply]}))
    update = rank_node(now, runtime, spec=spec, node="_rank", ranker="critic", collect=candidates,
                       compare=rank_candidates)
    assert [m.kind for m in published] == ["ranking", "code", "execution", "review"]
    assert published[0].chosen == "c2" and published[1].code == two.code and not published[1].branch
    assert update["turns"] == 1 and update["transcript"] == published


CROSS = {"flow": {"type": "cross_team", "judge": "judge", "max_rounds": 4,
                  "teams": [{"name": "red", "roles": ["red_coder", "red_critic"]},
                            {"name": "blue", "roles": ["blue_coder", "blue_critic"]}],
                  "edges": [{"from": "red_coder", "to": "red_critic"}, {"from": "blue_coder", "to": "blue_critic"}]}}
CROSS_ROLES = (("red_coder", "coder"), ("red_critic", "critic"), ("blue_coder", "coder"), ("blue_critic", "critic"),
               ("judge", "critic"))


def test_a_sub_team_node_runs_the_sub_team_in_its_branch(script):
    spec = team(*CROSS_ROLES, **CROSS)
    gateway, model = Gateway(), script({"red_coder.red": [code("def add(a, b): return a + b")],
                                        "red_critic.red": [approve()]})
    runtime, published = wired(spec, model, gateway)
    update = subteam_node(state(branch="red"), runtime, spec=spec)
    assert [m.kind for m in update["transcript"]] == ["code", "review", "final"]
    assert {m.branch for m in update["transcript"]} == {"red"} and [m.kind for m in published] == [
        "code", "review", "final"]
    gateway.script(model).assert_complete()


def test_the_judge_goes_through_the_same_rank_step_with_each_sub_teams_result(script):
    spec = team(*CROSS_ROLES, **CROSS)
    red = Code(run_id=RUN, sender="red_coder", code="def add(a, b): return a + b", branch="red")
    red_final = Final(run_id=RUN, sender="system", approved=True, stop_reason="approved", branch="red")
    blue = Code(run_id=RUN, sender="blue_coder", code="def add(a, b): return b + a", branch="blue")
    now = state(red, red_final, blue)
    found = sub_team_results(now, spec)
    assert [(c.name, c.note) for c in found] == [("red", "approved by its reviewer"), ("blue", "")]
    runtime, published = wired(spec, script({"judge": ['{"best": "red", "reason": "clearest"}']}))
    update = rank_node(now, runtime, spec=spec, node="_judge", ranker="judge", collect=sub_team_results,
                       compare=judge_results)
    ranking = next(m for m in published if isinstance(m, Ranking))
    assert ranking.chosen == "red" and published[-1].code == red.code and update["turns"] == 1


# -- which roles run code --------------------------------------------------------------------------------------

def test_the_pipeline_says_which_roles_run_code():
    assert executing_roles(team(("coder", "coder"), ("critic", "critic"))) == {"coder"}
    assert executing_roles(team(("coder", "coder"), ("critic", "critic"), **BEST_OF)) == {"coder", "critic"}
    assert executing_roles(team(*CROSS_ROLES, **CROSS)) == {"red_coder", "blue_coder", "judge"}
    planned = team(("planner", "planner"), ("coder", "coder"), ("critic", "critic"), **PARALLEL)
    assert executing_roles(planned) == {"coder"}
