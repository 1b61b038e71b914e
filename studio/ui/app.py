"""The script Streamlit runs for ``huddle ui``: page setup, the login, the sidebar, and the pages.

Every page has its own address (``/build``, ``/run``, ``/memory``, ``/runs``), so a link or a reload opens it
again; the root address, which Streamlit keeps for a default page, moves on to ``/build``.
"""

from __future__ import annotations

import streamlit as st

from studio.ui import build, icons, memory_page, run_page, runs_page, state
from studio.ui.login import require_login

st.set_page_config(page_title="Huddle studio", page_icon=icons.APP, layout="wide")
require_login()  # before anything of the teams, runs or memory renders

with st.sidebar:
    st.markdown(f"### {icons.APP} Huddle studio")
    data = state.team_data()
    spec, problems = state.validate(data)
    st.caption(f"team: **{data.get('name', '?')}**" + (f" · {icons.ALERTS['problem']} invalid" if problems else ""))
    keys = state.providers()
    have = [name for name, ok in keys.items() if ok]
    st.caption("providers with a key: " + (", ".join(have) if have else "none (the embedded model works offline)"))
    st.caption(f"state: `{state.home()}`")

PAGES = [
    st.Page(build.page, title="Build", icon=icons.PAGES["build"], url_path="build"),
    st.Page(run_page.page, title="Run", icon=icons.PAGES["run"], url_path="run"),
    st.Page(memory_page.page, title="Memory", icon=icons.PAGES["memory"], url_path="memory"),
    st.Page(runs_page.page, title="Runs", icon=icons.PAGES["runs"], url_path="runs"),
]


def _start() -> None:
    # Streamlit serves its default page at "/" only, never at the page's url_path: were Build the default,
    # /build would say "Page not found". A hidden default that moves on to the Build page keeps every address.
    st.switch_page(PAGES[0])


st.navigation([st.Page(_start, title="Huddle studio", url_path="start", default=True, visibility="hidden"),
               *PAGES]).run()
