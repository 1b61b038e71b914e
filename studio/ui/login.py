"""The studio's login: when ``huddle ui`` was given a token, each browser session must type it before anything renders.

The token reaches the Streamlit process in ``$HUDDLE_UI_TOKEN`` (set by ``huddle ui``
only); it is compared in constant time and a wrong one costs a second. A session
that gave it stays signed in until the browser tab is closed.
"""

from __future__ import annotations

import os
import time

import streamlit as st

from studio.exposure import UI_TOKEN_ENV, token_matches
from studio.ui import icons

__all__ = ["require_login"]

_SIGNED_IN = "huddle_signed_in"
_FIELD = "huddle_login_token"
_WRONG_DELAY_S = 1.0


def require_login() -> None:
    """Return when the studio has no token or this session gave it; otherwise show the login and stop the page."""
    token = os.environ.get(UI_TOKEN_ENV, "")
    if not token or st.session_state.get(_SIGNED_IN):
        return
    st.title(f"{icons.APP} Huddle studio")
    st.caption("This studio asks for its token: the one `huddle ui` printed, or the one in the variable its "
               "--token-env named.")
    given = st.text_input("Token", type="password", key=_FIELD)
    if given:
        if token_matches(given, token):
            st.session_state[_SIGNED_IN] = True
            st.rerun()
        time.sleep(_WRONG_DELAY_S)  # slows a guesser down; a right token is never delayed
        st.error("That is not this studio's token.")
    st.stop()
