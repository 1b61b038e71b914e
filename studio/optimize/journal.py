"""The search's journal: every evaluation and proposal, one JSON line each, so a stopped search resumes.

The first line says what is searched (the starting team, the task split, the seed, the model); a
journal for another search is refused rather than mixed in. Then one line per graded task
(``eval``: the variant's spec hash, the task, passed, tokens, dollars, seconds, the run), per
variant (``variant``: its spec, its parent, the change), per proposal refused by validation
(``rejected``), per instruction rewrite the model wrote (``rewrite``), and per held-out grade
(``held_out``). Each line is flushed and synced as it is written: a killed search loses at most the
task it was grading.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "journal.jsonl"
    >>> j = Journal(path, {"team": "abc"})
    >>> j.add_eval("abc", "t1", {"passed": True, "tokens": 10, "seconds": 1.0, "cost_usd": 0.0})
    >>> Journal(path, {"team": "abc"}).result("abc", "t1")["passed"]
    True
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from studio.spec import TeamSpec, dump_spec

__all__ = ["Journal", "JournalMismatch", "OptimizeError", "spec_hash"]


class OptimizeError(ValueError):
    """A search that cannot run as asked; the message says which argument and what to do."""


class JournalMismatch(OptimizeError):
    """The journal in the output folder belongs to another search."""


def spec_hash(spec: TeamSpec) -> str:
    """A short hash of the team as its minimal file would read (names and defaults normalised)."""
    return hashlib.sha256(dump_spec(spec, "json", minimal=True).encode()).hexdigest()[:12]


class Journal:
    """An append-only JSON Lines file of a search, read back on open."""

    def __init__(self, path: str | Path, header: dict[str, Any]):
        """Open (and read) the journal at ``path``, or start one with ``header``.

        Raises:
            JournalMismatch: the file's header differs from ``header`` (another team, split, seed or model).
        """
        self.path = Path(path)
        self.header = header
        self.evals: dict[tuple[str, str], dict[str, Any]] = {}
        self.variants: dict[str, dict[str, Any]] = {}
        self.rejected: list[dict[str, Any]] = []
        self.rewrites: dict[str, str] = {}
        self.held_out: dict[tuple[str, str, str], dict[str, Any]] = {}
        if self.path.exists() and self.path.stat().st_size:
            self._read()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._write({"kind": "header", **header})

    def _read(self) -> None:
        lines = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip().startswith("{")]
        first = lines[0] if lines else {}
        found = {k: v for k, v in first.items() if k != "kind"}
        if first.get("kind") != "header" or found != self.header:
            changed = sorted(k for k in set(found) | set(self.header) if found.get(k) != self.header.get(k))
            raise JournalMismatch(f"{self.path} is the journal of another search (it differs in: "
                                  f"{', '.join(changed) or 'its first line'}); give another --out folder, or "
                                  "delete it to start over")
        for line in lines[1:]:
            kind = line.get("kind")
            if kind == "eval":
                self.evals[(line["spec"], line["task"])] = line
            elif kind == "variant":
                self.variants[line["hash"]] = line
            elif kind == "rejected":
                self.rejected.append(line)
            elif kind == "rewrite":
                self.rewrites[line["key"]] = line["text"]
            elif kind == "held_out":
                self.held_out[(line["system"], line["spec"], line["task"])] = line

    def _write(self, line: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def result(self, spec: str, task: str) -> dict[str, Any] | None:
        """The recorded grade of variant ``spec`` on search task ``task``, if any."""
        return self.evals.get((spec, task))

    def add_eval(self, spec: str, task: str, result: dict[str, Any]) -> None:
        """Record a search grade."""
        line = {"kind": "eval", "spec": spec, "task": task, **result}
        self.evals[(spec, task)] = line
        self._write(line)

    def add_variant(self, digest: str, data: dict[str, Any], parent: str | None, family: str, change: str) -> None:
        """Record a variant (once)."""
        if digest in self.variants:
            return
        line = {"kind": "variant", "hash": digest, "spec_data": data, "parent": parent, "family": family,
                "change": change}
        self.variants[digest] = line
        self._write(line)

    def add_rejected(self, family: str, change: str, problems: list[str]) -> None:
        """Record a proposal that failed validation (it is skipped)."""
        line = {"kind": "rejected", "family": family, "change": change, "problems": problems}
        self.rejected.append(line)
        self._write(line)

    def add_rewrite(self, key: str, text: str) -> None:
        """Record a model's rewrite of a role's instructions (a resumed search reuses it, not a new call)."""
        self.rewrites[key] = text
        self._write({"kind": "rewrite", "key": key, "text": text})

    def add_held_out(self, system: str, spec: str, task: str, result: dict[str, Any]) -> None:
        """Record a held-out grade (only ever written after the search)."""
        line = {"kind": "held_out", "system": system, "spec": spec, "task": task, **result}
        self.held_out[(system, spec, task)] = line
        self._write(line)

    def spent(self) -> tuple[int, float]:
        """Tokens and seconds the search's evaluations have spent so far (resumed ones included)."""
        return (sum(int(e.get("tokens", 0)) for e in self.evals.values()),
                sum(float(e.get("seconds", 0.0)) for e in self.evals.values()))
