"""Fork from here: a new run that keeps a run's messages up to the one shown, then goes on live with a change.

The kept messages are served from the run's cassette (identical, free); the rest runs in the background like
any run started from the studio, with another model or team settings (``PATH=VALUE`` lines, as
``huddle runs fork --set``). The new run records its parent, so the Runs page can diff the two with one click.
"""

from __future__ import annotations

import streamlit as st

from studio.bus.sqlite import RunInfo
from studio.messages import Message
from studio.spec import SpecError, parse_spec
from studio.ui import icons, state, worker

__all__ = ["FORK", "show"]

FORK = ":material/fork_right:"
"""The icon of the fork button."""


def show(info: RunInfo, at: Message, position: int) -> None:
    """The "Fork from here" form for run ``info`` at its message ``at`` (number ``position``, from 1)."""
    with st.expander(f"{FORK} Fork from here (message #{position})"):
        st.caption("A new run keeps the messages up to this one as they are (served from this run's recording: "
                   "no model call), then goes on live with the change below.")
        model = st.text_input("Model for the rest", value=info.model or "", key=f"fork-model-{info.run_id}",
                              help="A litellm model string, local/smollm2 or scripted:PATH; empty: the team's.")
        changes = st.text_area("Change the team (one PATH=VALUE per line)", key=f"fork-set-{info.run_id}",
                               placeholder="roles.coder.instructions=Be brief.\nflow.max_rounds=3")
        if st.button("Fork", icon=FORK, key=f"fork-go-{info.run_id}-{position}"):
            _fork(info, at, model.strip() or None, [line.strip() for line in changes.splitlines() if line.strip()])
    forked = st.session_state.get(f"forked-{info.run_id}")
    if forked:
        st.success(f"Forked: run `{forked}` (open it on the Run page with `?run={forked}`; the Diff tab compares "
                   "it with its parent).", icon=icons.STATUS["running"])


def _fork(info: RunInfo, at: Message, model: str | None, sets: list[str]) -> None:
    from studio.replay import parse_sets

    try:
        spec = parse_sets(parse_spec(info.spec, f"run {info.run_id}"), sets)
    except SpecError as exc:
        st.error(str(exc))
        return
    handle = worker.fork(info.run_id, at.id, spec=spec, model=model, home=state.home())
    st.session_state[f"forked-{info.run_id}"] = handle.run_id
