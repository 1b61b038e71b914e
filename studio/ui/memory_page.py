"""The studio's Memory page: search the team's shared memory, add files to it, browse and delete its items.

Every item is shown with its provenance (source and locator, writer, trust, run,
time). The memory is opened once per process and settings (``open_team_memory``
keeps it), and its embedder is loaded once per process, whatever the settings,
and shared with the runs the studio starts (``memory.embedder`` keeps it); what
goes wrong with the store is shown as an ``st.error``, never a traceback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import streamlit as st

from memory.embedder import EmbedderError
from memory.items import COLLECTIONS, MemoryStoreError
from studio.ui import build, icons, state
from studio.ui.memory_ingest import upload_section

if TYPE_CHECKING:
    from memory.items import Hit
    from memory.store import VectorMemory
    from studio.spec import TeamSpec

__all__ = ["hit_card", "page", "store_errors"]

_log = logging.getLogger(__name__)
_NOTICE = "memory_notice"
_PAGE_SIZES = (10, 25, 50)
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~$])")


def page() -> None:
    """The Memory page of the team being edited."""
    st.title("Memory")
    data = state.team_data()
    spec, problems = state.validate(data)
    if spec is None:
        st.error(f"The team {_md(str(data.get('name', '?')))} is not valid, so its memory cannot be opened. "
                 "Fix it on the Build page:\n\n" + "\n".join(f"- {_md(p)}" for p in problems))
        _build_link()
        return
    if not spec.memory.enabled:
        st.info(f"Memory is turned off for the team **{_md(spec.name)}** (`memory.enabled: false`): its roles "
                "neither retrieve nor reflect, and there is nothing to search or browse. Turn it on in the Build "
                "page.")
        _build_link()
        return
    memory = _open(spec)
    counts: dict[str, int] | None = None
    if memory is not None:
        with store_errors("Counting the memory's items"):
            counts = memory.count()
    if memory is None or counts is None:
        return
    st.caption(f"namespace **{_md(memory.namespace)}** · {_md(memory.location)} · "
               f"embedder `{memory.embedder.name}`")
    for column, name in zip(st.columns(len(COLLECTIONS)), COLLECTIONS, strict=True):
        column.metric(name, counts[name])
    search_tab, add_tab, browse_tab = st.tabs(["Search", "Add files", "Browse"])
    with search_tab, store_errors("Searching the memory"):
        search_section(memory)
    with add_tab:
        upload_section(memory, store_errors)
    with browse_tab, store_errors("Listing the memory"):
        browse_section(memory, counts)


@contextmanager
def store_errors(doing: str) -> Iterator[None]:
    """Show a failure of the memory store inside the block as an ``st.error``; the page goes on after it.

    Args:
        doing: what the block does, for the message (``"Searching the memory"``).
    """
    try:
        yield
    except (MemoryStoreError, EmbedderError) as exc:
        st.error(f"{doing} failed: {exc}")
    except Exception as exc:  # chromadb and its HTTP client have their own types, e.g. when a server goes away
        _log.warning("%s failed", doing, exc_info=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no message"
        st.error(f"{doing} failed: {first} ({type(exc).__name__}). If the memory is on a Chroma server, check "
                 "that it is running (`chroma run`) and that `memory.url` points at it.")


def _open(spec: TeamSpec) -> VectorMemory | None:
    from studio.runner import open_team_memory  # loads the run machinery: only when the page is shown

    memory = None
    with store_errors("Opening the team's memory"), st.spinner(
            f"Opening the memory {spec.memory_namespace()!r} (the first time, the embedder loads)…"):
        memory = open_team_memory(spec, state.home())
    return memory


def _build_link() -> None:
    st.page_link(st.Page(build.page, title="Build", icon=icons.PAGES["build"], url_path="build"),
                 label="Go to the Build page")


def _md(text: str) -> str:
    """``text`` with Markdown's special characters escaped (file names, locators and roles are not markup)."""
    return _MARKDOWN.sub(r"\\\1", text)


def hit_card(hit: Hit, *, score: bool) -> None:
    """One item: (score,) id, collection, source › locator; then writer, trust, run, time; then its text."""
    where = hit.source.rsplit("/", 1)[-1]
    locator = hit.metadata.get("locator")
    head = [f"**{hit.score:.3f}**"] if score else []
    head += [f"`{hit.id}`", hit.collection,
             (_md(where) if where else "*no source*") + (f" › {_md(str(locator))}" if locator else "")]
    st.markdown(" · ".join(head))
    run = str(hit.metadata.get("run_id") or "")
    provenance = [f"writer **{_md(hit.writer or '?')}**", f"trust **{_md(hit.trust)}**",
                  f"run `{run}`" if run else "no run", f"created {_md(str(hit.metadata.get('created_at', '?')))}"]
    if hit.source and hit.source != where:
        provenance.append(f"source {_md(hit.source)}")
    st.caption(" · ".join(provenance))
    st.code(hit.text, language=None, wrap_lines=True)


def search_section(memory: VectorMemory) -> None:
    """A query, ``k`` and the collections to search; the hits, best first, with their scores and provenance."""
    with st.form("memory_search_form", border=False):
        query = st.text_input("Query", key="memory_query", placeholder="which time zone should timestamps use")
        left, right = st.columns([1, 3])
        k = left.number_input("Results (k)", min_value=1, max_value=50, value=5, step=1, key="memory_k")
        chosen = right.multiselect("Collections", COLLECTIONS, default=list(COLLECTIONS), key="memory_search_in")
        st.form_submit_button("Search", type="primary")
    if not query.strip():
        st.caption("Search ranks items by cosine similarity to the query (1 is identical), as the roles' "
                   "retrieval does.")
        return
    if not chosen:
        st.warning("Pick at least one collection to search.")
        return
    hits = memory.search(query, int(k), collections=chosen)
    if not hits:
        st.info(f"Nothing in {_md(memory.namespace)}'s {', '.join(chosen)} matches.")
        return
    st.caption(f"{len(hits)} hit(s), best first · score = cosine similarity (1 is identical)")
    for hit in hits:
        with st.container(border=True):
            hit_card(hit, score=True)


def browse_section(memory: VectorMemory, counts: dict[str, int]) -> None:
    """One collection's items, newest first, a page at a time, each with its delete buttons."""
    notice = st.session_state.pop(_NOTICE, None)
    if notice:
        st.success(notice)
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    # Plain names: a label that changes with the counts would lose the selection after a deletion.
    # streamlit types both choices as Optional: None only for an empty list of options
    name: str = left.radio("Collection", COLLECTIONS, horizontal=True, key="memory_browse")  # type: ignore[assignment]
    size = int(right.selectbox("Items per page", _PAGE_SIZES, key="memory_page_size"))  # type: ignore[call-overload]
    total = counts[name]
    if not total:
        st.info(f"{name} is empty." + (" Add files in the *Add files* tab." if name == "knowledge" else
                                       " Runs of the team fill it."))
        return
    key = f"memory_offset_{name}"
    offset = min(st.session_state.get(key, 0), total - 1) // size * size  # after deletions, or a new page size
    st.session_state[key] = offset
    items = memory.list(name, limit=size, offset=offset)
    with st.container(horizontal=True, vertical_alignment="center"):
        st.button("← Newer", key="memory_newer", disabled=offset == 0, on_click=_move, args=(key, offset - size))
        st.caption(f"{offset + 1}–{offset + len(items)} of {total}, newest first")
        st.button("Older →", key="memory_older", disabled=offset + size >= total, on_click=_move,
                  args=(key, offset + size))
    for hit in items:
        with st.container(border=True):
            hit_card(hit, score=False)
            _delete_buttons(memory, hit)


def _move(key: str, offset: int) -> None:
    st.session_state[key] = max(0, offset)


def _delete_buttons(memory: VectorMemory, hit: Hit) -> None:
    with st.container(horizontal=True):
        if st.button("Delete", key=f"memory_forget_{hit.id}", icon=icons.ALERTS["delete"]):
            gone = memory.forget([hit.id])
            _done(f"Deleted {hit.id} from {hit.collection}." if gone else f"{hit.id} was already gone.")
        if hit.collection == "knowledge" and hit.source:
            where = hit.source.rsplit("/", 1)[-1]
            with st.popover("Delete all from this source"):
                st.markdown(f"Every item whose source is {_md(hit.source)} will be deleted.")
                if st.button(f"Delete all from {where}", key=f"memory_forget_source_{hit.id}", type="primary"):
                    gone = memory.forget(source=hit.source)
                    _done(f"Deleted {gone} item(s) from {where}.")


def _done(notice: str) -> None:
    """Say what a deletion did on the next run, which draws the counts and the listing without the items."""
    st.session_state[_NOTICE] = notice
    st.rerun()
