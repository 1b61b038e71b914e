"""Find the files to ingest and read each one into chunks.

Every way a file can be unusable (binary, wrong encoding, empty, broken notebook or PDF)
becomes a `Skipped` with a reason a person can act on; nothing else escapes for bad content.

Example:
    >>> from pathlib import Path
    >>> files, skipped = discover(["docs"])  # doctest: +SKIP
    >>> chunks = [chunk for path in files for chunk in read_chunks(path)]  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable
from pathlib import Path

from memory.chunking import Chunk, chunk_sections, split_sections

__all__ = ["MAX_BYTES", "SUPPORTED", "Skipped", "discover", "read_chunks"]

_KINDS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".rst": "text",
    ".py": "python",
    ".ipynb": "notebook",
    ".pdf": "pdf",
}
SUPPORTED: frozenset[str] = frozenset(_KINDS)
"""The file extensions `read_chunks` can read (lower case, with the dot)."""
MAX_BYTES = 20 * 1024 * 1024
"""Files larger than this are skipped rather than read into memory."""
_NOISE = frozenset({".git", "__pycache__", ".venv", "venv", "node_modules", ".ipynb_checkpoints", ".mypy_cache",
                    ".pytest_cache", ".ruff_cache"})  # any other hidden entry is left out too
_SNIFF = 8192


class Skipped(Exception):
    """A file that cannot be ingested; `str(exc)` is the reason, written for a person.

    Example:
        >>> str(Skipped("binary file"))
        'binary file'
    """


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Expand files and folders into the files to read and the ones skipped, with why.

    Folders are walked recursively in name order; hidden entries and noise folders (`__pycache__`,
    `node_modules`, virtualenvs, tool caches) are left out silently. Unsupported types, missing paths
    and broken links are reported as skipped, named explicitly or found in a folder.

    Args:
        paths: Files and folders, in the order to report them.

    Returns:
        (files, skipped): files in a deterministic order without duplicates, and (path, reason) pairs.
    """
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if _is_dir(path):
            _walk(path, files, skipped, seen, set())
        else:
            _add(path, files, skipped, seen)
    return files, skipped


def read_chunks(path: Path, *, size: int = 1000, overlap: int = 150) -> list[Chunk]:
    """Read one supported file and cut it into chunks.

    Args:
        path: The file.
        size: The most characters in one chunk.
        overlap: Characters repeated between consecutive pieces of one long section.

    Returns:
        The chunks in file order, indexed from 0.

    Raises:
        Skipped: The file cannot be ingested; the message says why.
        ValueError: Unless size > overlap >= 0.
    """
    path = Path(path)
    chunk_sections([], size=size, overlap=overlap)  # check the arguments before touching the file
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:
        raise Skipped(_unsupported(path))
    data = _read_bytes(path)
    if kind == "pdf":
        sections = _pdf_sections(data)
    else:
        text = _decode(data)
        sections = _notebook_sections(text) if kind == "notebook" else split_sections(text, kind)
    pieces = chunk_sections(sections, size=size, overlap=overlap)
    if not pieces:
        raise Skipped("empty file")
    source = str(path.resolve())
    return [Chunk(text=text, source=source, locator=locator, index=index, kind=kind)
            for index, (locator, text) in enumerate(pieces)]


def _unsupported(path: Path) -> str:
    return f"unsupported file type {path.suffix}" if path.suffix else "unsupported file type (no extension)"


def _add(path: Path, files: list[Path], skipped: list[tuple[Path, str]], seen: set[Path]) -> None:
    """Take one path that is not a folder: a file to read, or a skip with its reason."""
    key = path.absolute()
    if key in seen:
        return
    seen.add(key)
    try:
        _classify(path, key, files, skipped, seen)
    except OSError as exc:  # e.g. a parent folder that cannot be searched
        skipped.append((path, f"cannot read: {exc.strerror or exc}"))


def _classify(path: Path, key: Path, files: list[Path], skipped: list[tuple[Path, str]], seen: set[Path]) -> None:
    if not path.exists():
        skipped.append((path, "broken link" if path.is_symlink() else "no such file or folder"))
    elif not path.is_file():
        skipped.append((path, "not a regular file"))
    elif path.suffix.lower() not in SUPPORTED:
        skipped.append((path, _unsupported(path)))
    elif (real := path.resolve()) == key or real not in seen:  # a link to a file already taken adds nothing
        seen.add(real)
        files.append(path)


def _walk(folder: Path, files: list[Path], skipped: list[tuple[Path, str]], seen: set[Path],
          visiting: set[Path]) -> None:
    """Add a folder's entries in name order; `visiting` stops symlinked folders from looping."""
    real = folder.resolve()
    if real in visiting:
        return
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as exc:
        skipped.append((folder, f"cannot read: {exc.strerror or exc}"))
        return
    for entry in entries:
        if entry.name.startswith(".") or entry.name in _NOISE:
            continue
        path = folder / entry.name
        if _is_dir(path):
            _walk(path, files, skipped, seen, visiting | {real})
        else:
            _add(path, files, skipped, seen)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # unreadable: _add reports why
        return False


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, or Skipped for missing, oversized, empty or unreadable files."""
    try:
        if path.is_dir():
            raise Skipped("is a folder")
        if path.stat().st_size > MAX_BYTES:
            raise Skipped("larger than 20 MB")
        data = path.read_bytes()
    except FileNotFoundError:
        raise Skipped("broken link" if path.is_symlink() else "no such file or folder") from None
    except OSError as exc:
        raise Skipped(f"cannot read: {exc.strerror or exc}") from None
    if not data.strip():
        raise Skipped("empty file")
    return data


def _decode(data: bytes) -> str:
    r"""UTF-8 text (a byte-order mark is dropped) with "\n" newlines, or Skipped."""
    if b"\x00" in data[:_SNIFF]:
        raise Skipped("binary file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Skipped("not UTF-8 text") from None
    if not text.strip():
        raise Skipped("empty file")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _notebook_sections(text: str) -> list[tuple[str, str]]:
    """One section per non-empty cell, located as "cell N (markdown|code|raw)"; outputs are ignored."""
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Skipped(f"not a valid notebook (JSON error at line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:  # absurdly nested or oversized numbers
        raise Skipped(f"not a valid notebook ({_first_line(exc)})") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise Skipped("not a valid notebook (no list of cells)")
    sections = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        body = "".join(str(part) for part in source) if isinstance(source, list) else str(source)
        if body.strip():
            sections.append((f"cell {number} ({cell.get('cell_type', 'code')})", body))
    if not sections:
        raise Skipped("empty notebook")
    return sections


def _pdf_sections(data: bytes) -> list[tuple[str, str]]:
    """One section per page with text, located as "page N"; pypdf's errors become Skipped."""
    try:
        from pypdf import PdfReader
    except ImportError:
        raise Skipped("reading PDFs needs pypdf (pip install pypdf)") from None
    if b"%PDF-" not in data[:1024]:  # the header may follow a little junk, but not much
        raise Skipped("not a PDF (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _opens_without_password(reader):
            raise Skipped("encrypted PDF")
        pages = list(reader.pages)
    except Skipped:
        raise
    except Exception as exc:  # pypdf raises many types for damaged files; all mean "cannot use this PDF"
        raise Skipped(f"cannot read PDF: {_first_line(exc)}") from None
    sections, error = [], None
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:  # one damaged page should not lose the rest of the document
            error = exc
            continue
        if text.strip():
            sections.append((f"page {number}", text.replace("\r\n", "\n").replace("\r", "\n")))
    if not sections:
        raise Skipped(f"cannot read PDF: {_first_line(error)}" if error else "no extractable text (scanned PDF?)")
    return sections


def _opens_without_password(reader) -> bool:
    """Whether an encrypted PDF opens with the empty password, as many "protected" PDFs do."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # a missing AES backend or a damaged security handler: treat it as locked
        return False


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
