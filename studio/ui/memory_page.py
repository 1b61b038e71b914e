"""Placeholder: replaced by the page's implementation."""

from __future__ import annotations

import streamlit as st


def page() -> None:
    st.title("memory_page")
