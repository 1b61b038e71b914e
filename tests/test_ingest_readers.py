"""Files into chunks: section boundaries, packing and overlap, every reader, and every reason to skip a file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from memory.chunking import Chunk, chunk_sections, split_sections
from memory.readers import MAX_BYTES, SUPPORTED, Skipped, discover, read_chunks

GUIDE = """\
Intro before any heading.

# Guide
Welcome.

## Install
Get it.

### Linux
```bash
# not a heading, a shell comment
apt install huddle
```
~~~
## also not a heading
~~~

## Usage ##
Run `huddle`.
"""

MODULE = '''\
"""A module docstring."""

import os

# Cache the answer: computing it is slow.
@functools.cache
@other
def cached(x):
    return x


class Foo:
    """A class."""

    def method(self):
        # an indented comment stays inside the class
        return 1


async def fetch():
    return await os.thing()


if __name__ == "__main__":
    cached(1)
'''


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _reason(path: Path) -> str:
    with pytest.raises(Skipped) as caught:
        read_chunks(path)
    return str(caught.value)


def _text_pdf(text: str) -> bytes:
    """A minimal valid one-page PDF showing `text` in Helvetica, with a correct xref table."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _overlap(previous: str, following: str) -> int:
    """The length of the longest start of `following` that `previous` ends with."""
    return max((n for n in range(1, len(following) + 1) if previous.endswith(following[:n])), default=0)


# Sections


def test_markdown_splits_on_headings_with_paths_and_respects_fences():
    sections = split_sections(GUIDE, "markdown")
    assert [locator for locator, _ in sections] == ["", "Guide", "Guide > Install", "Guide > Install > Linux",
                                                    "Guide > Usage"]
    texts = dict(sections)
    assert texts["Guide > Install"].startswith("## Install\n")  # the heading stays in the text
    assert "# not a heading, a shell comment" in texts["Guide > Install > Linux"]
    assert "## also not a heading" in texts["Guide > Install > Linux"]
    assert texts[""] == "Intro before any heading.\n"


def test_markdown_heading_levels_pop_back_up():
    text = "# A\n## B\n### C\n# D\n### E\n## F\n"
    assert [locator for locator, _ in split_sections(text, "markdown")] == ["A", "A > B", "A > B > C", "D", "D > E",
                                                                           "D > F"]


def test_python_splits_per_top_level_definition_with_decorators_and_comments():
    sections = split_sections(MODULE, "python")
    assert [locator for locator, _ in sections] == ["module", "def cached", "class Foo", "async def fetch",
                                                    "lines 24-25"]
    texts = dict(sections)
    assert texts["module"] == '"""A module docstring."""\n\nimport os'
    assert texts["def cached"].startswith("# Cache the answer: computing it is slow.\n@functools.cache\n@other\n")
    assert texts["class Foo"].endswith("# an indented comment stays inside the class\n        return 1")
    assert texts["lines 24-25"].startswith('if __name__ == "__main__":')


def test_python_with_a_syntax_error_falls_back_to_blank_line_blocks(tmp_path):
    path = _write(tmp_path / "broken.py", "def ok():\n    return 1\n\n\ndef broken(:\n    pass\n")
    assert split_sections(path.read_text(), "python") == [("lines 1-2", "def ok():\n    return 1"),
                                                         ("lines 5-6", "def broken(:\n    pass")]
    chunks = read_chunks(path)
    assert [(c.locator, c.kind) for c in chunks] == [("lines 1-6", "python")]
    assert "def broken(:" in chunks[0].text


def test_text_paragraphs_are_located_by_line_range():
    assert split_sections("one\ntwo\n\n\nthree\n", "text") == [("lines 1-2", "one\ntwo"), ("line 5", "three")]


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown kind 'notebook'"):
        split_sections("x", "notebook")


# Packing


def test_small_sections_are_merged_with_first_and_last_locator():
    sections = [(name, f"Section {name} text.") for name in "ABCDE"]
    assert chunk_sections(sections, size=1000) == [("A … E", "\n\n".join(text for _, text in sections))]
    assert chunk_sections([("lines 1-2", "a"), ("line 4", "b"), ("lines 6-9", "c")]) == [("lines 1-9", "a\n\nb\n\nc")]
    assert chunk_sections([("", "pre"), ("Guide", "g")]) == [("Guide", "pre\n\ng")]


def test_merging_stops_at_size():
    sections = [(str(n), "x" * 40) for n in range(5)]
    chunks = chunk_sections(sections, size=100, overlap=10, min_size=100)
    assert [locator for locator, _ in chunks] == ["0 … 1", "2 … 3", "4"]
    assert all(len(text) <= 100 for _, text in chunks)


def test_sections_of_a_fair_size_keep_their_own_chunks():
    sections = [("Intro", "# Guide"), ("Guide > Dates", "d" * 300), ("Guide > Errors", "e" * 300),
                ("Guide > Tiny", "t")]
    chunks = chunk_sections(sections, size=1000, overlap=100)  # min_size 125: one topic per chunk
    assert [locator for locator, _ in chunks] == ["Intro … Guide > Dates", "Guide > Errors … Tiny"]
    assert chunks[1][1].endswith("\n\nt")  # a tiny section still joins the one before


def test_long_section_is_split_with_real_overlap():
    words = [f"word{n:04d}" for n in range(400)]
    text = " ".join(words)
    chunks = chunk_sections([("Intro", "short"), ("Body", text), ("Outro", "end")], size=200, overlap=50)
    assert chunks[0] == ("Intro", "short") and chunks[-1] == ("Outro", "end")
    pieces = [piece for locator, piece in chunks if locator == "Body"]
    assert len(pieces) > 10
    assert all(0 < len(piece) <= 200 for piece in pieces)
    for previous, following in zip(pieces, pieces[1:], strict=False):
        assert 35 <= _overlap(previous, following) <= 50  # trimmed to a word boundary, never more than asked
        assert following.split()[0] in words  # pieces start on whole words
    seen = [word for piece in pieces for word in piece.split()]
    assert list(dict.fromkeys(seen)) == words  # nothing lost, order kept


def test_long_section_prefers_paragraph_then_line_boundaries():
    paragraphs = ["\n".join(f"p{p} line {n} " + "y" * 20 for n in range(4)) for p in range(8)]
    chunks = chunk_sections([("", "\n\n".join(paragraphs))], size=300, overlap=0)
    assert [text for _, text in chunks] == ["\n\n".join(paragraphs[i:i + 2]) for i in range(0, 8, 2)]
    lines = "\n".join(f"line {n} " + "z" * 30 for n in range(20))
    for _, text in chunk_sections([("", lines)], size=200, overlap=0):
        assert text.startswith("line ") and text.endswith("z" * 30)


def test_text_without_whitespace_is_cut_hard_and_keeps_overlap():
    chunks = chunk_sections([("", "a" * 950)], size=200, overlap=30)
    assert all(len(text) <= 200 for _, text in chunks)
    assert sum(len(text) for _, text in chunks) - 30 * (len(chunks) - 1) == 950


@pytest.mark.parametrize(("size", "overlap"), [(100, 100), (100, 150), (100, -1), (0, 0)])
def test_size_must_exceed_overlap(size, overlap):
    with pytest.raises(ValueError, match="size must be greater than overlap"):
        chunk_sections([("", "text")], size=size, overlap=overlap)


def test_empty_sections_never_make_chunks():
    assert chunk_sections([("a", ""), ("b", "  \n\n "), ("c", " x ")]) == [("c", "x")]


# Readers


def test_read_markdown_file(tmp_path):
    path = _write(tmp_path / "docs" / "guide.md", GUIDE)
    chunks = read_chunks(path, size=120, overlap=10)
    assert all(isinstance(c, Chunk) and c.kind == "markdown" and c.source == str(path.resolve()) for c in chunks)
    assert [c.index for c in chunks] == [0, 1, 2, 3, 4]  # each section over size // 8 keeps its own chunk
    assert [c.locator for c in chunks] == ["", "Guide", "Guide > Install", "Guide > Install > Linux", "Guide > Usage"]
    assert chunks[0].text == "Intro before any heading."
    assert chunks[3].text.startswith("### Linux\n```bash\n# not a heading")
    assert read_chunks(path, size=120, overlap=10) == chunks  # deterministic
    assert len(read_chunks(path)) == 1


def test_read_text_with_bom_and_crlf(tmp_path):
    path = _write(tmp_path / "notes.txt", "\ufeffFirst para.\r\nsame para.\r\n\r\nSecond.\r\n".encode())
    (chunk,) = read_chunks(path)
    assert (chunk.text, chunk.locator, chunk.kind) == ("First para.\nsame para.\n\nSecond.", "lines 1-4", "text")
    assert read_chunks(_write(tmp_path / "doc.rst", "Title\n=====\n"))[0].kind == "text"


def test_read_notebook_cells(tmp_path):
    notebook = {"nbformat": 4, "cells": [
        {"cell_type": "markdown", "source": ["# Analysis\n", "We load the data."]},
        {"cell_type": "code", "source": "   \n", "outputs": []},
        {"cell_type": "code", "source": "df = load()\n  df.head()", "outputs": [{"text": "SECRET OUTPUT"}]},
    ]}
    path = _write(tmp_path / "work.ipynb", json.dumps(notebook))
    chunks = read_chunks(path, size=40, overlap=0)
    assert [(c.locator, c.text, c.kind) for c in chunks] == [
        ("cell 1 (markdown)", "# Analysis\nWe load the data.", "notebook"),
        ("cell 3 (code)", "df = load()\n  df.head()", "notebook"),
    ]
    assert read_chunks(path)[0].locator == "cell 1 (markdown) … cell 3 (code)"


def test_notebook_problems_are_skipped(tmp_path):
    assert _reason(_write(tmp_path / "bad.ipynb", '{\n  "cells": [\n  oops\n]}')) == \
        "not a valid notebook (JSON error at line 3)"
    assert _reason(_write(tmp_path / "list.ipynb", "[1, 2]")) == "not a valid notebook (no list of cells)"
    empty = {"cells": [{"cell_type": "code", "source": []}, {"cell_type": "markdown", "source": "\n"}]}
    assert _reason(_write(tmp_path / "empty.ipynb", json.dumps(empty))) == "empty notebook"


def test_read_pdf_with_text(tmp_path):
    path = _write(tmp_path / "paper.pdf", _text_pdf("Hello PDF world"))
    (chunk,) = read_chunks(path)
    assert "Hello PDF world" in chunk.text
    assert (chunk.locator, chunk.kind, chunk.index, chunk.source) == ("page 1", "pdf", 0, str(path.resolve()))


def test_pdf_problems_are_skipped(tmp_path):
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    blank = tmp_path / "scan.pdf"
    with blank.open("wb") as handle:
        writer.write(handle)
    assert _reason(blank) == "no extractable text (scanned PDF?)"
    assert _reason(_write(tmp_path / "fake.pdf", b"this is not a PDF at all")) == "not a PDF (no %PDF header)"
    assert _reason(_write(tmp_path / "cut.pdf", _text_pdf("Hello")[:60])).startswith("cannot read PDF: ")

    locked = PdfWriter(clone_from=_write(tmp_path / "plain.pdf", _text_pdf("Secret text")))
    locked.encrypt(user_password="secret", algorithm="RC4-128")
    with (tmp_path / "locked.pdf").open("wb") as handle:
        locked.write(handle)
    assert _reason(tmp_path / "locked.pdf") == "encrypted PDF"


def test_bad_files_are_skipped_with_reasons(tmp_path):
    assert _reason(_write(tmp_path / "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")) == "binary file"
    assert _reason(_write(tmp_path / "old.txt", "café crème".encode("latin-1"))) == "not UTF-8 text"
    assert _reason(_write(tmp_path / "empty.md", "")) == "empty file"
    assert _reason(_write(tmp_path / "blank.py", " \n\t\n")) == "empty file"
    assert _reason(_write(tmp_path / "photo.png", b"\x89PNG")) == "unsupported file type .png"
    assert _reason(_write(tmp_path / "Makefile", "all:\n")) == "unsupported file type (no extension)"
    assert _reason(tmp_path / "missing.md") == "no such file or folder"
    (tmp_path / "link.md").symlink_to(tmp_path / "gone.md")
    assert _reason(tmp_path / "link.md") == "broken link"
    assert _reason(_write(tmp_path / "folder.md" / "inner.md", "x").parent) == "is a folder"
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: no 20 MB written
    assert _reason(huge) == "larger than 20 MB"


def test_a_megabyte_of_text_chunks_fast(tmp_path):
    paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 6
    path = _write(tmp_path / "big.txt", "\n\n".join([paragraph] * 3000))
    assert path.stat().st_size > 1_000_000
    started = time.perf_counter()
    chunks = read_chunks(path)
    assert time.perf_counter() - started < 1.0  # ~30 ms on a laptop; generous for a loaded CI runner
    assert all(len(c.text) <= 1000 for c in chunks) and chunks[-1].index == len(chunks) - 1


# Discovery


def test_discover_walks_folders_sorted_and_ignores_noise(tmp_path):
    root = tmp_path / "proj"
    for name in ["b.md", "a.py", "sub/z.txt", "sub/deeper/n.ipynb", "a/c.rst", "sub/A.PDF", "notes.markdown"]:
        _write(root / name, "text")
    for name in [".git/config.md", ".hidden.md", "__pycache__/m.py", "node_modules/x/readme.md", "venv/lib/site.py",
                 ".venv/lib/site.py", "sub/.ipynb_checkpoints/n.ipynb", ".mypy_cache/x.txt", "sub/__pycache__/a.py"]:
        _write(root / name, "noise")
    _write(root / "logo.png", b"\x89PNG")
    (root / "sub" / "dead.md").symlink_to(root / "nowhere.md")

    files, skipped = discover([root])
    relative = [path.relative_to(root).as_posix() for path in files]
    assert relative == ["a/c.rst", "a.py", "b.md", "notes.markdown", "sub/A.PDF", "sub/deeper/n.ipynb", "sub/z.txt"]
    assert files == sorted(files, key=lambda path: path.parts)
    assert [(path.relative_to(root).as_posix(), reason) for path, reason in skipped] == [
        ("logo.png", "unsupported file type .png"), ("sub/dead.md", "broken link")]
    assert discover([root]) == (files, skipped)


def test_discover_explicit_paths_without_duplicates(tmp_path):
    guide = _write(tmp_path / "docs" / "guide.md", "# Guide")
    picture = _write(tmp_path / "pic.jpg", b"\xff\xd8")
    hidden = _write(tmp_path / ".notes.md", "named on purpose")
    (tmp_path / "alias.md").symlink_to(guide)
    files, skipped = discover([guide, str(tmp_path / "docs"), tmp_path / "alias.md", hidden, picture,
                               tmp_path / "missing", guide])
    assert files == [guide, hidden]
    assert skipped == [(picture, "unsupported file type .jpg"), (tmp_path / "missing", "no such file or folder")]
    assert discover([]) == ([], [])


def test_supported_extensions_are_all_readable(tmp_path):
    assert SUPPORTED == frozenset({".md", ".markdown", ".txt", ".rst", ".py", ".ipynb", ".pdf"})
    for suffix in SUPPORTED - {".pdf", ".ipynb"}:
        assert read_chunks(_write(tmp_path / f"f{suffix}", "some words"))[0].text == "some words"
