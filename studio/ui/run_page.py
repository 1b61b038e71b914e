"""The Run page: start the team on a task and watch its messages arrive, or open any run by id.

The run works on a thread of its own (``studio.ui.worker``); this page never
waits for it. It reads the run log, where the bus writes every message before
anyone sees it: while the run is active a fragment re-renders the run every
half second, parsing only the rows published since the last time.

Which run is shown: ``?run=ID`` in the address, else the last one started or
opened in this session (``open_run`` sets both, so the Runs page can send a
run here).

A run waiting at an approval point (started here or with ``huddle run``)
shows the request under its progress line, with Approve, Edit and Reject;
an answer resumes it in the background and the page follows it live again.
Stop stops a running run before its next model call, and a waiting one at
once (failed with error type ``stopped``: either can be resumed).

Under the progress line, the budget meter (``studio.ui.run_budget``): tokens, dollars, seconds and model calls
spent, in total and per role, against the run's budget where one is set. A run stopped by its budget (status
``budget``) says why, with raised limits to go on with and Continue, which resumes it in the background.

Then the team with its speaking roles lit and what they
are saying as it streams in, then the run's timeline (``studio.ui.timeline``),
then the transcript with the newest message on top, so the latest words stay
in view however long the run; tokens and cost per agent come last.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from studio.bus import BusUnavailable
from studio.bus.sqlite import RunInfo
from studio.messages import Message
from studio.runner import shared_store
from studio.spec import TeamSpec
from studio.ui import icons, run_budget, run_picture, state, timeline, transcript, worker
from studio.ui.approval_form import approval_prompt, waiting_request

__all__ = ["DEFAULT_TASK", "MODEL_KEY", "POLL_S", "RUN_KEY", "TASK_KEY", "open_run", "page", "shown_run"]

RUN_KEY = "huddle_run_id"
"""Session key of the run the page shows."""
TASK_KEY = "run_task"
MODEL_KEY = "run_model"
DEFAULT_TASK = "Write a Python function fizzbuzz(n) that returns Fizz, Buzz, FizzBuzz or the number as a string."
POLL_S = 0.5
"""How often an active run is re-read from the run log, in seconds."""
_LIVE = "huddle_run_live"
_ACTIVE = ("starting", "running")
_OPEN_KEY = "run_open_id"


def open_run(run_id: str) -> None:
    """Make ``run_id`` the run this page shows (in the session and in the address)."""
    st.session_state[RUN_KEY] = run_id
    st.query_params["run"] = run_id


def shown_run() -> str | None:
    """The run the page shows: ``?run=`` first, then the session's."""
    return st.query_params.get("run") or st.session_state.get(RUN_KEY)


def page() -> None:
    """Render the Run page."""
    st.title(f"{icons.PAGES['run']} Run")
    spec, problems = state.validate(state.team_data())
    run_id = shown_run()
    handle = worker.get(run_id) if run_id else None
    try:
        log = shared_store(state.home())  # $HUDDLE_BUS_URL's bus (Redis Streams), else runs.db in the home
    except BusUnavailable as exc:
        _controls(spec, problems, handle, waiting=False)
        st.error(str(exc))
        return
    info = log.get_run(run_id) if run_id else None
    if info is not None and handle is None:  # an id prefix, or a run another process started
        handle = worker.get(info.run_id)
    _controls(spec, problems, handle, waiting=info is not None and info.status == "waiting",
              run_id=info.run_id if info else run_id)
    if not run_id:
        st.info("Start a run above, or open a past one by id (the Runs page lists them).")
        return
    if info is not None and st.query_params.get("message"):
        _linked_message(log, info)
    if _status(handle, info) in _ACTIVE:
        st.session_state[_LIVE] = run_id
        _live(run_id, spec)
    else:
        _show(run_id, spec)


def _linked_message(log, info: RunInfo) -> None:
    """The message ``?message=N`` names (a link from the Runs page's diff), shown first, above the run."""
    number = str(st.query_params.get("message", ""))
    messages = transcript.tail(log, info.run_id)
    if not number.isdigit() or not 1 <= int(number) <= len(messages):
        st.warning(f"Run {info.run_id[:8]} has no message #{number} (it has {len(messages)}).",
                   icon=icons.ALERTS["problem"])
        return
    index = int(number) - 1
    with st.container(border=True):
        st.caption(f"message #{number} of run `{info.run_id[:8]}`, linked from a diff")
        transcript.render_transcript(messages[index:index + 1], transcript.role_kinds(info.spec), offset=index)


def _status(handle: worker.RunHandle | None, info: RunInfo | None) -> str:
    """The run's status: the handle's while this server runs it (or before the log knows the run).

    Else it is the run log's, since another process (the CLI answering an approval) may have moved the run
    on since.
    """
    if handle is not None and (handle.active or info is None):
        return handle.status
    if info is not None and info.status == "failed" and (info.error == worker.STOPPED or (
            handle is not None and handle.status == "stopped")):
        return "stopped"  # with Stop, here or in another studio
    return info.status if info is not None else "?"


def _controls(spec: TeamSpec | None, problems: list[str], handle: worker.RunHandle | None, *, waiting: bool,
              run_id: str | None = None) -> None:
    """Task, model override, Start and Stop (a running or waiting run); and a way to open a run by id."""
    team = state.team_data().get("name", "?")
    if problems:
        st.error("The team cannot run; fix it on the Build page:\n" + "\n".join(f"- {p}" for p in problems))
    st.session_state.setdefault(TASK_KEY, DEFAULT_TASK)
    st.text_area("Task", key=TASK_KEY, height=90)
    st.text_input("Model override", key=MODEL_KEY,
                  placeholder="empty: the team's own models (e.g. scripted:examples/scripts/dev_team.yaml, "
                              "local/smollm2)",
                  help="A litellm model string, local/smollm2 or scripted:PATH, used for every role.")
    run_budget.inputs()
    active = handle is not None and handle.active
    start, stop, opener = st.columns([1, 1, 4], vertical_alignment="bottom")
    task = st.session_state.get(TASK_KEY, "").strip()
    start.button("Start", key="run_start", type="primary", on_click=_start,
                 disabled=spec is None or not task or active,
                 help=f"Run the team {team!r} on the task" if spec else "The team is not valid")
    stop.button("Stop", key="run_stop", on_click=_stop, args=(run_id or "",), disabled=not (active or waiting),
                help="Stop a running run before its next model call, a waiting one at once (either can be "
                     "resumed later)")
    opener.text_input("Open a run by id", key=_OPEN_KEY, on_change=_open_typed, placeholder="run id or prefix")


def _start() -> None:
    spec, _ = state.validate(state.team_data())  # the team as it is now, not as it was when the button was drawn
    task = st.session_state.get(TASK_KEY, "").strip()
    if spec is None or not task:
        return
    model = st.session_state.get(MODEL_KEY, "").strip() or None
    handle = worker.start(spec, task, model=model, home=state.home(), budget=run_budget.requested())
    open_run(handle.run_id)


def _stop(run_id: str) -> None:
    handle = worker.get(run_id)
    if handle is not None and handle.active:
        handle.stop()
    elif run_id:
        worker.stop_waiting(run_id, home=state.home())


def _open_typed() -> None:
    typed = st.session_state.get(_OPEN_KEY, "").strip()
    if typed:
        info = shared_store(state.home()).get_run(typed)
        open_run(info.run_id if info else typed)


@st.fragment(run_every=POLL_S)
def _live(run_id: str, spec: TeamSpec | None) -> None:
    _show(run_id, spec)


def _show(run_id: str, spec: TeamSpec | None) -> None:
    """One run: progress, errors, usage, the transcript (windowed) and the result."""
    log = shared_store(state.home())
    info = log.get_run(run_id)
    handle = worker.get(info.run_id if info else run_id)
    if info is None and handle is None:
        st.warning(f"No run {run_id!r} in the run log ({log.path}).")
        return
    messages = transcript.tail(log, info.run_id) if info else []
    status = _status(handle, info)
    active = status in _ACTIVE
    _progress(run_id, handle, info, messages, spec)
    error = (handle.error if handle else None) or (info.error if info else None)
    if error:
        (st.warning if status == "stopped" else st.error)(f"{'Stopped' if status == 'stopped' else 'Failed'}: "
                                                          f"{error}")
    budget, role_budgets = run_budget.run_budgets(info.spec if info else None, handle)
    run_budget.show_meter(messages, budget, role_budgets, run_budget.live_seconds(messages, active))
    if status == "budget":
        run_budget.budget_stop(info.run_id if info else run_id, transcript.final_of(messages), budget,
                               state.home())
    _approval_prompts(run_id, status, messages)
    kinds = transcript.role_kinds(info.spec if info else None)
    speeches = handle.speeches() if handle is not None and active else {}
    _now(info.spec if info else state.team_data(), speeches, kinds)
    with st.expander("Timeline", expanded=True):
        picked = timeline.show(messages, key=f"run-timeline-{run_id}", waiting=status == "waiting")
        if picked is not None and 0 < picked <= len(messages):
            st.caption(f"message #{picked}, picked on the timeline")
            transcript.render_transcript(messages[picked - 1:picked], kinds, offset=picked - 1)
    final = transcript.final_of(messages)
    if final is not None or not (active or status == "waiting"):
        st.subheader("Result")
        transcript.render_result(final, key=f"run-{run_id}")
    st.subheader("Transcript, newest first")
    if not messages:
        st.caption("no messages yet")
    start, end = transcript.window(len(messages), key=f"run-window-{run_id}")
    transcript.render_transcript(messages[start:end], kinds, offset=start, newest_first=True)
    with st.expander("Tokens and cost per agent"):
        transcript.usage_chart(messages)
    if not active and st.session_state.get(_LIVE) == run_id:
        del st.session_state[_LIVE]
        st.rerun()  # the whole page, so Start and Stop reflect the finished run


def _progress(run_id: str, handle: worker.RunHandle | None, info: RunInfo | None, messages: Sequence[Message],
              spec: TeamSpec | None) -> None:
    """One line: status, round (worker turns so far / flow.max_rounds), who is speaking, elapsed seconds."""
    status = _status(handle, info)
    active = status in _ACTIVE
    if info is not None:
        max_rounds = info.spec.get("flow", {}).get("max_rounds", "?")
    else:
        max_rounds = spec.flow.max_rounds if spec else "?"
    calls = handle.turns if handle else sum(m.usage.calls for m in messages)
    # info is None only for a run this server holds (handle), checked above
    elapsed = handle.elapsed() if handle and (active or info is None) else transcript.duration_s(info)  # type: ignore[arg-type]
    speaking = f" · **{handle.speaking}** speaking" if handle and active and handle.speaking else ""
    team = info.team if info else (handle.team if handle else "?")
    st.markdown(f"{transcript.STATUS_ICONS.get(status, '•')} **{status}** · round {transcript.rounds(messages)}/"
                f"{max_rounds}{speaking} · {elapsed:.1f}s · {calls} model calls · {len(messages)} messages · "
                f"team {team} · run `{run_id}`")


def _now(team: dict, speeches: dict[str, worker.Speech], kinds: dict[str, str]) -> None:
    """The team with its speaking roles lit, and beside it what they are saying as it arrives."""
    picture, words = st.columns([2, 3])
    with picture:
        run_picture.show_team(team, run_picture.speaking_roles(speeches))
    with words:
        avatars = {role: transcript.AVATARS.get(kind, "") for role, kind in kinds.items()}
        run_picture.show_speeches(speeches, {k: v for k, v in avatars.items() if v})


def _approval_prompts(run_id: str, status: str, messages: Sequence[Message]) -> None:
    """The request a waiting run makes of a person, under the progress line and above the transcript."""
    request = waiting_request(status, messages)
    if request is not None:
        approval_prompt(run_id, request)
