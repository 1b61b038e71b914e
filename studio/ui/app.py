"""The script Streamlit runs for ``huddle ui``: page setup, the login, the sidebar, and the pages."""

from __future__ import annotations

import streamlit as st

from studio.ui import build, memory_page, run_page, runs_page, state
from studio.ui.login import require_login

st.set_page_config(page_title="Huddle studio", page_icon="🧩", layout="wide")
require_login()  # before anything of the teams, runs or memory renders

with st.sidebar:
    st.markdown("### 🧩 Huddle studio")
    data = state.team_data()
    spec, problems = state.validate(data)
    st.caption(f"team: **{data.get('name', '?')}**" + (" · ⚠️ invalid" if problems else ""))
    keys = state.providers()
    have = [name for name, ok in keys.items() if ok]
    st.caption("providers with a key: " + (", ".join(have) if have else "none (the embedded model works offline)"))
    st.caption(f"state: `{state.home()}`")

navigation = st.navigation([
    st.Page(build.page, title="Build", icon="🧱", url_path="build", default=True),
    st.Page(run_page.page, title="Run", icon="▶️", url_path="run"),
    st.Page(memory_page.page, title="Memory", icon="🧠", url_path="memory"),
    st.Page(runs_page.page, title="Runs", icon="🗂️", url_path="runs"),
])
navigation.run()
