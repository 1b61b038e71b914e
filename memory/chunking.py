r"""Split text into sections on a format's natural boundaries, then pack them into chunks.

Pure Python, no third-party imports: the readers turn files into text, this module
decides where the cuts go.

Example:
    >>> sections = split_sections("# Guide\nHello.\n## Install\nRun it.\n", "markdown")
    >>> [locator for locator, _ in sections]
    ['Guide', 'Guide > Install']
    >>> chunk_sections(sections, size=1000, overlap=150)
    [('Guide', '# Guide\nHello.\n\n## Install\nRun it.')]
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

__all__ = ["Chunk", "chunk_sections", "split_sections"]

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_LINES = re.compile(r"^lines? (\d+)(?:-(\d+))?$")


@dataclass(frozen=True)
class Chunk:
    """One piece of a file, ready to embed.

    Example:
        >>> Chunk(text="Run it.", source="/docs/guide.md", locator="Guide > Install", index=0, kind="markdown").locator
        'Guide > Install'
    """

    text: str
    """The chunk text: non-empty, stripped."""
    source: str
    """The file it came from, as a resolved absolute path."""
    locator: str
    """Where in the file: "Install > Linux", "def parse_args", "cell 3 (code)", "page 2", "lines 10-42" or ""."""
    index: int
    """0-based chunk number within its file."""
    kind: str
    """"markdown", "text", "python", "notebook" or "pdf"."""


def split_sections(text: str, kind: str) -> list[tuple[str, str]]:
    r"""Split text into (locator, section_text) pairs on the format's natural boundaries.

    Args:
        text: The whole file's text, newlines already normalised to "\n".
        kind: "markdown" (ATX headings outside code fences), "python" (top-level def/class),
            or "text"/"pdf" (paragraphs separated by blank lines).

    Returns:
        The sections in file order; sections that are only whitespace are dropped.

    Raises:
        ValueError: For a kind this function does not split (notebooks are split by the reader).
    """
    lines = text.split("\n")
    if kind == "markdown":
        sections = _markdown(lines)
    elif kind == "python":
        sections = _python(text, lines)
    elif kind in ("text", "pdf"):
        sections = _blocks(lines, 0)
    else:
        raise ValueError(f"split_sections: unknown kind {kind!r}; expected 'markdown', 'python', 'text' or 'pdf'")
    return [(locator, body) for locator, body in sections if body.strip()]


def chunk_sections(sections: list[tuple[str, str]], *, size: int = 1000, overlap: int = 150,
                   min_size: int | None = None) -> list[tuple[str, str]]:
    """Pack sections into (locator, text) chunks of at most `size` characters.

    Two neighbours of at least `min_size` characters each keep chunks of their own, so a chunk stays
    about one topic; a smaller section (a heading alone, a two-line function) joins its neighbour while
    the two fit in `size` (the locator names the first and last of the sections merged). A section longer than
    `size` is cut on paragraph, then line, then whitespace boundaries, each piece starting with up
    to `overlap` characters that end the piece before it.

    Args:
        sections: (locator, text) pairs, as from `split_sections`.
        size: The most characters in one chunk.
        overlap: Characters of a cut section's previous piece repeated at the start of the next.
        min_size: The size from which two neighbouring sections keep chunks of their own; `size // 8` when unset.

    Returns:
        Chunks in order, none empty, each stripped.

    Raises:
        ValueError: Unless size > overlap >= 0.
    """
    if not size > overlap >= 0:
        raise ValueError(f"chunk size must be greater than overlap, and overlap at least 0 (got size={size}, "
                         f"overlap={overlap})")
    floor = size // 8 if min_size is None else min_size
    chunks: list[tuple[str, str]] = []
    texts: list[str] = []
    locators: list[str] = []
    length = 0

    def flush() -> None:
        nonlocal length
        if texts:
            chunks.append((_merge_locators(locators), "\n\n".join(texts)))
        texts.clear()
        locators.clear()
        length = 0

    for locator, raw in sections:
        body = raw.strip()
        if not body:
            continue
        if len(body) > size:
            flush()
            chunks.extend((locator, piece) for piece in _cut(body, size, overlap))
            continue
        if texts and (length + 2 + len(body) > size or min(length, len(body)) >= floor):
            flush()
        length += len(body) + (2 if texts else 0)
        texts.append(body)
        locators.append(locator)
    flush()
    return chunks


def _lines(first: int, last: int) -> str:
    """A 1-based line range as a locator."""
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _blocks(lines: list[str], offset: int) -> list[tuple[str, str]]:
    """Paragraphs separated by blank lines, each located by its line range (offset = lines before `lines`)."""
    blocks: list[tuple[str, str]] = []
    start = None
    for number, line in enumerate([*lines, ""]):
        if line.strip():
            if start is None:
                start = number
        elif start is not None:
            blocks.append((_lines(offset + start + 1, offset + number), "\n".join(lines[start:number])))
            start = None
    return blocks


def _markdown(lines: list[str]) -> list[tuple[str, str]]:
    """Sections under ATX headings; the locator is the heading path, the heading line stays in the text."""
    sections: list[tuple[str, str]] = []
    path: list[tuple[int, str]] = []
    current: list[str] = []
    locator = ""
    fence: str | None = None
    for line in lines:
        if line.lstrip(" ")[:1] not in ("#", "`", "~"):  # most lines: skip the regexes
            current.append(line)
            continue
        opener = _FENCE.match(line)
        if fence is not None:
            if opener and opener.group(1).startswith(fence) and not opener.group(2).strip():
                fence = None  # a closing fence: same character, at least as long, nothing after it
        elif opener and not (opener.group(1)[0] == "`" and "`" in opener.group(2)):
            fence = opener.group(1)
        elif heading := _HEADING.match(line):
            sections.append((locator, "\n".join(current)))
            level, title = len(heading.group(1)), _CLOSING_HASHES.sub("", heading.group(2) or "").strip()
            path = [(lvl, name) for lvl, name in path if lvl < level] + [(level, title)]
            locator = " > ".join(name for _, name in path if name)
            current = []
        current.append(line)
    sections.append((locator, "\n".join(current)))
    return sections


def _python(text: str, lines: list[str]) -> list[tuple[str, str]]:
    """One section per top-level def/class (decorators and comments above included), the rest between them."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _blocks(lines, 0)
    sections: list[tuple[str, str]] = []
    done = 0  # lines[:done] are already in a section
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
        while start > done and lines[start - 1].startswith("#"):
            start -= 1
        _gap(lines, done, start, sections)
        prefix = "class" if isinstance(node, ast.ClassDef) else "async def" if isinstance(
            node, ast.AsyncFunctionDef) else "def"
        end = node.end_lineno or node.lineno
        sections.append((f"{prefix} {node.name}", "\n".join(lines[start:end])))
        done = end
    _gap(lines, done, len(lines), sections)
    return sections


def _gap(lines: list[str], start: int, end: int, sections: list[tuple[str, str]]) -> None:
    """Add the code between top-level definitions: "module" before the first one, a line range after."""
    filled = [number for number in range(start, end) if lines[number].strip()]
    if not filled:
        return
    first, last = filled[0], filled[-1]
    locator = "module" if not sections else _lines(first + 1, last + 1)
    sections.append((locator, "\n".join(lines[first:last + 1])))


def _merge_locators(locators: list[str]) -> str:
    """One locator for merged sections: the first one, or "first … last" (line ranges join into one range)."""
    named = [locator for locator in locators if locator]
    if not named:
        return ""
    first, last = named[0], named[-1]
    if first == last:
        return first
    head, tail = _LINES.match(first), _LINES.match(last)
    if head and tail:
        return _lines(int(head.group(1)), int(tail.group(2) or tail.group(1)))
    a, b = first.split(" > "), last.split(" > ")
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    if common == len(a):  # the last section sits under the first: the first names them all
        return first
    rest = f"{' > '.join(a[common:])} … {' > '.join(b[common:])}"
    return f"{' > '.join(a[:common])} > {rest}" if common else rest


def _cut(text: str, size: int, overlap: int) -> list[str]:
    """Cut one long text into pieces of at most `size`, preferring paragraph, line, then word boundaries."""
    pieces: list[str] = []
    start = 0
    while True:
        if len(text) - start <= size:
            pieces.append(text[start:].strip())
            break
        low, high = start + max(size // 2, overlap + 1), start + size
        cut = high
        for separator in ("\n\n", "\n", " ", "\t"):
            found = text.rfind(separator, low, high)
            if found != -1:
                cut = found
                break
        pieces.append(text[start:cut].strip())
        start = cut - overlap
        if overlap and not text[start - 1].isspace() and not text[start].isspace():
            # Start the overlap on a word boundary when there is one; a run with no whitespace is cut anywhere.
            start = next((i for i in range(start, cut) if text[i].isspace()), start)
    return [piece for piece in pieces if piece]
