"""The studio's Memory page, driven with Streamlit's AppTest on a real chromadb store and the hash embedder."""

from __future__ import annotations

from pathlib import Path

import pytest
from _procs import free_port
from conftest import DEV_TEAM, hashed, start_chroma_server
from streamlit.testing.v1 import AppTest

from memory.embedder import HashEmbedder
from memory.items import MemoryItem
from memory.store import VectorMemory
from studio.runner import open_team_memory
from studio.spec import load_spec
from studio.ui.memory_ingest import ingest_uploads

TIMEOUT = 60

DATES = b"# Team conventions\n\n## Dates and times\n\nStore every timestamp in UTC, as an aware datetime.\n"
TESTS = b"# Testing\n\nWrite pytest functions named test_behaviour, one behaviour each.\n"


def _memory_page():
    from studio.ui import memory_page

    memory_page.page()


def _team(embedder: dict | None = None, **memory):
    """The example dev team on the hash embedder, with ``memory`` (and ``embedder``) settings changed."""
    spec = hashed(load_spec(DEV_TEAM))
    if embedder:
        memory["embedder"] = spec.memory.embedder.model_copy(update=embedder)
    if memory:
        spec = spec.model_copy(update={"memory": spec.memory.model_copy(update=memory)})
    return spec


def _app(spec) -> AppTest:
    at = AppTest.from_function(_memory_page, default_timeout=TIMEOUT)
    at.session_state["huddle_team"] = spec.model_dump(mode="json", by_alias=True)
    return at.run()


def _text(at: AppTest) -> str:
    """Everything the page wrote as markdown, captions and code, in one string."""
    return "\n".join([*(m.value for m in at.markdown), *(c.value for c in at.caption), *(c.value for c in at.code)])


def _counts(at: AppTest) -> dict[str, int]:
    return {m.label: int(m.value) for m in at.metric}


def _no_failures(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


class _Upload:
    def __init__(self, name: str, data: bytes):
        self.name, self._data = name, data

    def getvalue(self) -> bytes:
        return self._data


# -- the upload path ------------------------------------------------------------------------------------------------

def test_uploads_through_the_page_ingest_with_a_report_and_update_the_counts():
    spec = _team()
    at = _app(spec)
    _no_failures(at)
    assert _counts(at) == {"knowledge": 0, "episodes": 0, "reflections": 0}
    uploader = at.file_uploader[0]
    assert uploader.accept_multiple_files
    assert {"md", "txt", "rst", "py", "ipynb", "pdf"} <= set(t.lstrip(".") for t in uploader.allowed_type)

    uploader.set_value([("conventions.md", DATES, "text/markdown"), ("testing.md", TESTS, "text/markdown"),
                        ("empty.txt", b"", "text/plain")]).run()
    at.button(key="memory_ingest").click().run()

    _no_failures(at)
    assert at.success[0].value.startswith("Ingested **2** file(s) into knowledge: **2** chunk(s), **2** new, "
                                          "**0** already stored")
    skipped = at.table[0].value
    assert list(skipped["file"]) == ["empty.txt"] and list(skipped["reason"]) == ["empty file"]
    assert _counts(at)["knowledge"] == 2  # the page was drawn again after ingesting
    assert at.file_uploader[0].value == []  # and the uploader emptied for the next files
    sources = {hit.source for hit in open_team_memory(spec).list("knowledge")}
    assert {Path(s).name for s in sources} == {"conventions.md", "testing.md"}

    # The same files again: nothing new is stored.
    at.file_uploader[0].set_value(("conventions.md", DATES, "text/markdown")).run()
    at.button(key="memory_ingest").click().run()
    assert "**0** new, **1** already stored" in at.success[0].value
    assert _counts(at)["knowledge"] == 2


def test_ingest_uploads_keeps_the_file_names_and_reports_progress():
    memory = open_team_memory(_team())
    seen: list[tuple[str, int, int]] = []
    uploads = [_Upload("notes.md", DATES), _Upload("../../escape.md", TESTS),
               _Upload("notes.md", b"Another notes.md, from another folder."), _Upload("picture.png", b"\x89PNG")]
    report = ingest_uploads(memory, uploads, on_progress=lambda *step: seen.append(step))

    assert (report.files, report.added, report.duplicates) == (3, 3, 0)
    assert report.skipped == [("picture.png", "unsupported file type .png")]
    assert seen[0] == ("notes.md", 0, 3) and seen[-1] == ("", 3, 3)
    assert [done for _, done, _ in seen] == [0, 1, 2, 3]
    sources = sorted(Path(hit.source).name for hit in memory.list("knowledge"))
    assert sources == ["escape.md", "notes.md", "notes.md"]
    folders = {Path(hit.source).parent for hit in memory.list("knowledge")}
    upload = next(f for f in folders if f.name.startswith("huddle-upload-"))
    assert folders == {upload, upload / "2"}  # "../../" stayed inside; the second notes.md got a folder of its own
    assert not upload.exists()  # removed after ingesting


# -- search ---------------------------------------------------------------------------------------------------------

def test_search_shows_scores_and_provenance():
    spec = _team()
    memory = open_team_memory(spec)
    ingest_uploads(memory, [_Upload("conventions.md", DATES), _Upload("testing.md", TESTS)])
    memory.add([MemoryItem("fizzbuzz run: the coder stored timestamps in local time, the critic sent it back.",
                           "episodes", source="run:run-42", writer="system", trust="agent", run_id="run-42",
                           created_at="2025-01-02T03:04:05+00:00")])
    at = _app(spec)
    at.text_input(key="memory_query").input("store timestamps in UTC")
    at.number_input(key="memory_k").set_value(2)
    at.button[0].click().run()  # the form's Search button
    _no_failures(at)

    cards = [m.value for m in at.markdown if m.value.startswith("**0.")]  # scored: search hits, not the listing
    assert len(cards) == 2
    best = open_team_memory(spec).search("store timestamps in UTC", 2)
    for card, hit in zip(cards, best, strict=True):
        assert card.startswith(f"**{hit.score:.3f}** · `{hit.id}` · {hit.collection}")
    assert cards[0].endswith("knowledge · conventions.md › Team conventions")  # the file name and the locator
    text = _text(at)
    assert "writer **user** · trust **external** · no run" in text
    assert "Store every timestamp in UTC" in text

    at.multiselect(key="memory_search_in").set_value(["episodes"])
    at.button[0].click().run()
    cards = [m.value for m in at.markdown if m.value.startswith("**0.")]
    assert len(cards) == 1 and "`e-" in cards[0] and "run:run-42" in cards[0]
    assert "writer **system** · trust **agent** · run `run-42` · created 2025-01-02T03:04:05+00:00" in _text(at)


def test_a_search_with_no_hits_says_so():
    at = _app(_team())
    at.text_input(key="memory_query").input("anything at all")
    at.button[0].click().run()
    _no_failures(at)
    assert any("matches" in i.value for i in at.info)


# -- browse and delete ----------------------------------------------------------------------------------------------

def test_browse_pages_and_deletes_an_item():
    spec = _team()
    memory = open_team_memory(spec)
    texts = [f"Lesson {n}: check the edge case number {n} before anything else." for n in range(12)]
    memory.add([MemoryItem(t, "reflections", writer="critic", trust="agent", created_at=f"2025-01-01T00:00:{n:02d}")
                 for n, t in enumerate(texts)])
    at = _app(spec)
    at.radio(key="memory_browse").set_value("reflections").run()
    _no_failures(at)
    assert _counts(at)["reflections"] == 12
    assert "1–10 of 12, newest first" in _text(at)
    assert "Lesson 11:" in at.code[0].value  # newest first
    assert not at.button(key="memory_older").disabled

    at.button(key="memory_older").click().run()
    shown = [c.value for c in at.code]
    assert len(shown) == 2 and "Lesson 1:" in shown[0] and "Lesson 0:" in shown[1]
    assert "11–12 of 12" in _text(at)

    doomed = memory.list("reflections", limit=1, offset=11)[0]
    at.button(key=f"memory_forget_{doomed.id}").click().run()
    _no_failures(at)
    assert at.success[0].value == f"Deleted {doomed.id} from reflections."
    assert _counts(at)["reflections"] == 11
    assert memory.get([doomed.id]) == []
    assert not any(doomed.id in m.value for m in at.markdown)
    assert [c.value for c in at.code] == [texts[1]]  # still the last page, now one item on it


def test_delete_all_from_a_source():
    spec = _team()
    memory = open_team_memory(spec)
    report = ingest_uploads(memory, [_Upload("conventions.md", DATES), _Upload("testing.md", TESTS)])
    memory.remember("A note typed in by hand.", source="by hand")
    assert report.added == 2
    at = _app(spec)
    assert _counts(at)["knowledge"] == 3
    victim = next(h for h in memory.list("knowledge") if h.source.endswith("testing.md"))
    at.button(key=f"memory_forget_source_{victim.id}").click().run()
    _no_failures(at)
    assert at.success[0].value == "Deleted 1 item(s) from testing.md."
    assert _counts(at)["knowledge"] == 2
    assert sorted(Path(h.source).name for h in memory.list("knowledge")) == ["by hand", "conventions.md"]
    assert "testing.md" not in _text(at)


# -- notices and errors ---------------------------------------------------------------------------------------------

def test_a_team_without_memory_gets_a_notice():
    at = _app(_team(enabled=False))
    _no_failures(at)
    assert "Memory is turned off" in at.info[0].value
    assert not at.metric and not at.file_uploader
    assert at.get("page_link")


def test_an_invalid_team_says_so_and_links_the_build_page():
    at = AppTest.from_function(_memory_page, default_timeout=TIMEOUT)
    at.session_state["huddle_team"] = {"version": 1, "name": "broken", "roles": [{"name": "x", "kind": "wizard"}]}
    at.run()
    assert not at.exception
    assert "is not valid" in at.error[0].value and "roles" in at.error[0].value
    assert at.get("page_link")


def test_an_unreachable_chroma_server_is_an_error_not_a_traceback():
    at = _app(_team(url=f"http://127.0.0.1:{free_port()}"))
    assert not at.exception
    assert "Opening the team's memory failed: cannot open the Chroma server" in at.error[0].value
    assert not at.metric


def test_a_store_built_with_another_embedder_is_an_error(home):
    spec = _team()
    other = HashEmbedder()
    other.name = "other-model"
    VectorMemory(spec.memory_namespace(), embedder=other, path=home / "memory").remember("Built with another model.")
    at = _app(spec)
    assert not at.exception
    assert "Counting the memory's items failed" in at.error[0].value
    assert "built with embedder 'other-model', but this team uses 'hash'" in at.error[0].value
    assert not at.metric and not at.file_uploader


def test_an_embedder_that_cannot_load_is_an_error(tmp_path):
    at = _app(_team(embedder={"model": str(tmp_path)}))
    assert not at.exception
    assert "Opening the team's memory failed" in at.error[0].value
    assert "holds no sentence-transformers model" in at.error[0].value


@pytest.mark.timeout(180)
def test_a_chroma_server_that_goes_away_is_an_error(tmp_path):
    proc, url = start_chroma_server(tmp_path)
    try:
        at = _app(_team(url=url))
        _no_failures(at)
        assert _counts(at) == {"knowledge": 0, "episodes": 0, "reflections": 0}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    at.run()
    assert not at.exception
    assert "Counting the memory's items failed" in at.error[0].value
    assert "chroma run" in at.error[0].value
