"""Ingesting files and folders into a real (persistent) chromadb memory."""

from __future__ import annotations

import json

import pytest

from memory import VectorMemory, get_embedder, ingest


@pytest.fixture
def docs(tmp_path):
    root = tmp_path / "docs"
    (root / "guide").mkdir(parents=True)
    (root / "guide" / "dates.md").write_text(
        "# Dates\n\nStore timestamps in UTC.\n\n## Parsing\n\nUse datetime.fromisoformat for ISO 8601 text.\n")
    (root / "tools.py").write_text("def slugify(text):\n    return text.lower().replace(' ', '-')\n\n\n"
                                   "class Cache:\n    pass\n")
    (root / "notes.txt").write_text("Retry HTTP calls on 503 with exponential back-off.\n")
    (root / "nb.ipynb").write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "source": ["# Explore\n", "Load the CSV with the csv module."]},
        {"cell_type": "code", "source": "rows = list(csv.reader(open('data.csv')))", "outputs": []}]}))
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (root / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (root / "empty.md").write_text("   \n")
    (root / ".git").mkdir()
    (root / ".git" / "config.txt").write_text("ignored")
    return root


@pytest.fixture
def mem(tmp_path, namespace):
    return VectorMemory(namespace, embedder=get_embedder("hash"), path=tmp_path / "store")


def test_a_folder_is_read_chunked_and_stored_with_provenance(mem, docs):
    seen = []
    report = ingest(mem, [docs], size=80, overlap=10,
                    on_progress=lambda current, done, total: seen.append((done, total)))
    assert report.files == 4 and report.added == report.chunks >= 6 and report.duplicates == 0
    skipped = {p.rsplit("/", 1)[-1]: reason for p, reason in report.skipped}
    assert skipped == {"logo.png": "unsupported file type .png", "blob.txt": "binary file", "empty.md": "empty file"}
    assert seen[0] == (0, 6) and seen[-1] == (6, 6)  # progress over every supported file
    hit = mem.search("parse an ISO 8601 string", k=1)[0]
    assert hit.source.endswith("dates.md") and hit.metadata["locator"].endswith("Parsing")
    assert hit.trust == "external" and hit.writer == "user" and hit.untrusted
    code = mem.search("slugify text", k=1)[0]
    assert code.metadata["format"] == "python" and "def slugify" in code.text
    cell = mem.search("csv reader rows", k=1)[0]
    assert cell.metadata["locator"].startswith("cell 2")


def test_ingesting_again_adds_nothing(mem, docs):
    first = ingest(mem, [docs])
    again = ingest(mem, [docs / "guide", docs])  # overlapping paths: each file once
    assert again.added == 0 and again.duplicates == first.chunks and again.files == first.files
    assert mem.count()["knowledge"] == first.added


def test_missing_paths_and_bad_files_never_raise(mem, tmp_path):
    bad = tmp_path / "broken.ipynb"
    bad.write_text("{not json")
    report = ingest(mem, [tmp_path / "nope", bad])
    assert report.files == 0 and report.added == 0
    reasons = dict(report.skipped)
    assert reasons[str(tmp_path / "nope")] == "no such file or folder"
    assert reasons[str(bad)].startswith("not a valid notebook")


def test_secrets_in_ingested_files_are_redacted(mem, tmp_path, monkeypatch):
    monkeypatch.setenv("DEPLOY_TOKEN", "tok-9f8e7d6c5b4a")
    doc = tmp_path / "ops.md"
    doc.write_text("# Deploy\n\nUse key sk-live-abcdef1234567890 and token tok-9f8e7d6c5b4a to deploy.\n")
    ingest(mem, [doc])
    text = mem.search("deploy", k=1)[0].text
    assert "sk-live" not in text and "tok-9f8e7d6c5b4a" not in text
    assert "[redacted key]" in text and "[redacted DEPLOY_TOKEN]" in text
