"""A run's tape: what its model calls, tools, sandbox runs and memory searches gave, recorded and served back.

Every run records, beside its messages, one record per call (``RunStore.record_calls``): the request (the
model, messages, schema, tools and sampling of a model call; the arguments of a tool; the files of a sandbox run;
the query of a memory search), a hash of it, and what came back. A :class:`Tape` given a :class:`Cassette` serves
those records instead of making the calls:

- **replay** (``strict``): the n-th model call of each role (or ``role.branch``) must ask what the recording's
  n-th call of that role asked; the first that does not is a :class:`ReplayDiverged` naming the role and the two
  requests, or, with a ``live`` model, the point from which the run goes on for real.
- **fork**: the calls are served in order, whatever they ask, until the run has published ``fork_after``
  messages; from then on they are made for real.

Tools, sandbox runs and memory searches are served by their request's hash (parallel branches make them in any
order). Example:

    >>> request_hash({"model": "m", "messages": []}) == request_hash({"messages": [], "model": "m"})
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

from memory.items import Hit
from roles.board import CandidateSkipped
from sandbox.result import ExecResult
from studio._taped import completion, completion_data, exec_data, exec_result
from studio.llm.gateway import CallRefused, Completion, ModelCallError
from studio.llm.schemas import json_schema
from studio.llm.scripted import ScriptedModel, ScriptExhausted
from studio.messages import Message, message_from_json, message_to_json
from studio.redact import redact_data
from studio.tools.base import Tool, ToolOutcome

__all__ = ["Cassette", "ReplayDiverged", "Tape", "request_hash"]


_FENCE = re.compile(r"data-[0-9a-f]{12}")
"""The tag that fences untrusted data in a prompt (``roles._recall``): random on purpose, so left out of hashes."""


def request_hash(request: Any) -> str:
    """A short stable hash of a request (its JSON with sorted keys, the random fence tags left out)."""
    text = _FENCE.sub("data-fence", json.dumps(request, sort_keys=True, ensure_ascii=False, default=str))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ReplayDiverged(Exception):
    """A replayed run asked a model something the recording did not: the team, its prompts or its flow changed."""

    def __init__(self, key: str, index: int, recorded: dict[str, Any] | None, asked: dict[str, Any]):
        self.key, self.index, self.recorded, self.asked = key, index, recorded, asked
        what = "a call the recording does not have" if recorded is None else "a different request"
        super().__init__(f"replay diverged at {key}'s model call {index + 1}: {what}")


class Cassette:
    """The records of one run, ready to serve: model calls per role in order, the rest by request hash."""

    def __init__(self, records: Sequence[dict[str, Any]], messages: Sequence[Message] = ()):
        self.records = list(records)
        self.messages = list(messages)
        self.branches = frozenset(m.branch for m in self.messages if m.branch)
        """The parallel branches the run wrote (a replay's adaptive N writes these and no other)."""
        self.model: dict[str, list[dict[str, Any]]] = {}
        self.by_hash: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.decisions: list[dict[str, Any]] = []
        """What people answered at the run's approval points, in order."""
        for record in self.records:
            if record["kind"] == "model":
                self.model.setdefault(record["key"], []).append(record)
            elif record["kind"] == "decision":
                self.decisions.append(record["response"])
            else:
                self.by_hash.setdefault((record["kind"], record["hash"]), []).append(record)


class Tape:
    """Records a run's calls into its store as they are made, and serves a cassette's instead where it has one.

    The run binds it to its log and id (:meth:`bind`); until then it records nothing.

    Args:
        source: the cassette to serve from; ``None`` makes every call for real (a plain recorded run).
        strict: replay (requests must match) rather than fork (served in order until ``fork_after``).
        fork_after: for a fork, how many messages the run publishes from the recording before going live.
        live_model: a replay goes on for real with this model from the first call that diverges.
    """

    def __init__(self, source: Cassette | None = None, *, strict: bool = True, fork_after: int | None = None,
                 live_model: str | None = None):
        self.store: Any = None
        self.run_id, self.source = "", source
        self.strict, self.fork_after, self.live_model = strict, fork_after, live_model
        self.live = source is None
        self.diverged: ReplayDiverged | None = None
        self.served = 0
        self.published = 0
        self._calls: dict[str, int] = {}
        self._taken: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    @property
    def replaying(self) -> bool:
        """Whether this is a replay: served from a cassette, requests checked, no memory of its own."""
        return self.source is not None and self.strict

    def bind(self, store: Any, run_id: str) -> None:
        """Record into ``store`` for ``run_id`` from now on (a resumed run's calls are numbered on from its log's)."""
        fresh = self.run_id != run_id
        self.store, self.run_id = store, run_id
        if fresh and self.source is None and store is not None:
            for record in store.calls(run_id):
                if record["kind"] == "model":
                    self._calls[record["key"]] = self._calls.get(record["key"], 0) + 1

    def decided(self, decision: dict[str, Any]) -> None:
        """Record a person's answer at an approval point (a replay gives the same answers)."""
        self._record({"kind": "decision", "key": "person", "hash": "", "request": {}, "response": decision})

    # --- bookkeeping ------------------------------------------------------------------------------------------------

    def saw(self, message: Message) -> None:
        """Count a message the run published (a fork goes live once it has published ``fork_after``)."""
        with self._lock:
            self.published += 1
            if self.fork_after is not None and self.published >= self.fork_after:
                self.live = True

    def _record(self, record: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.record_calls(self.run_id, [record])

    def _take(self, kind: str, digest: str) -> dict[str, Any] | None:
        """The next recorded result of this request (the last one again once they are used up)."""
        if self.source is None or self.live:
            return None
        found = self.source.by_hash.get((kind, digest))
        if not found:
            return None
        with self._lock:
            n = self._taken.get((kind, digest), 0)
            self._taken[(kind, digest)] = n + 1
            self.served += 1
        return found[min(n, len(found) - 1)]

    def _served_calls(self, asking: str) -> dict[str, int]:
        """Model calls before this one per role key (a scripted live model skips as many of its replies)."""
        with self._lock:
            return {key: n - (key == asking) for key, n in self._calls.items()}

    # --- model calls ------------------------------------------------------------------------------------------------

    def complete(self, gateway: Any, model: str, messages: list[dict[str, Any]], **options: Any) -> Completion:
        """A model call: served from the cassette, or made through ``gateway`` (and recorded)."""
        key = str(options.get("role", ""))
        settings = options.get("settings")
        schema, tools = options.get("schema"), options.get("tools")
        request = {"model": model, "messages": messages,
                   "schema": json_schema(schema) if schema is not None else None,
                   "tools": tools or None, "tool_choice": options.get("tool_choice") if tools else None,
                   "temperature": getattr(settings, "temperature", None),
                   "max_tokens": getattr(settings, "max_tokens", None)}
        digest = request_hash(redact_data(request))  # as the log keeps it: a served reply is the redacted one
        with self._lock:
            index = self._calls.get(key, 0)
            self._calls[key] = index + 1
        served = self._serve_model(key, index, digest, request)
        if served is not None and "refused" in served:  # an adaptive candidate the recording did not need
            before_call = options.get("before_call")
            if before_call is not None:
                before_call()  # the board counts it as skipped (and raises) when it has decided by now
            raise CandidateSkipped(served["refused"])
        if served is not None and "failed" in served:  # the call failed for good in the recording: again
            raise (ScriptExhausted if served["failed"] == "ScriptExhausted" else ModelCallError)(served["message"])
        if served is not None:
            reply = completion(served["response"])
            on_token = options.get("on_token")
            if on_token is not None and reply.text:
                on_token(reply.text)
        else:
            if self.live_model is not None and self.source is not None:
                model = self.live_model
                if model.startswith("scripted:") and model not in gateway.scripts:  # its replies go on from here
                    gateway.scripts[model] = ScriptedModel.load(model.removeprefix("scripted:"),
                                                                start_at=self._served_calls(key))
            try:
                reply = gateway.complete(model, messages, **options)
            except CallRefused as exc:  # not made (a candidate no longer needed): a replay refuses it again
                self._record({"kind": "model", "key": key, "index": index, "hash": digest, "request": request,
                              "refused": str(exc), "served": False})
                raise
            except (ModelCallError, ScriptExhausted) as exc:  # a failed call ends the run: a replay ends it so
                self._record({"kind": "model", "key": key, "index": index, "hash": digest, "request": request,
                              "failed": type(exc).__name__, "message": str(exc), "served": False})
                raise
        self._record({"kind": "model", "key": key, "index": index, "hash": digest, "request": request,
                      "response": completion_data(reply), "served": served is not None})
        return reply

    def _serve_model(self, key: str, index: int, digest: str, request: dict[str, Any]) -> dict[str, Any] | None:
        if self.source is None or self.live:
            return None
        recorded = self.source.model.get(key, [])
        found = recorded[index] if index < len(recorded) else None
        if found is not None and (found["hash"] == digest or not self.strict):
            with self._lock:
                self.served += 1
            return found
        if not self.strict:  # a fork whose prefix asks more than was recorded: from here on, for real
            return None
        divergence = ReplayDiverged(key, index, found["request"] if found is not None else None, request)
        with self._lock:
            if self.diverged is None:
                self.diverged = divergence
            if self.live_model is not None:
                self.live = True
                return None
        raise divergence

    # --- tools, sandbox runs, memory searches, reflection ----------------------------------------------------------

    def tool(self, tool: Tool) -> Tool:
        """``tool``, its results served from the cassette or recorded."""
        run = tool.run

        def taped(arguments: dict[str, Any]) -> ToolOutcome:
            request = {"tool": tool.name, "arguments": arguments}
            digest = request_hash(request)
            found = self._take("tool", digest)
            outcome = ToolOutcome(**found["response"]) if found is not None else run(arguments)
            self._record({"kind": "tool", "key": tool.name, "hash": digest, "request": request,
                          "response": dataclasses.asdict(outcome)})
            return outcome

        return dataclasses.replace(tool, run=taped)

    def sandbox_run(self, sandbox: Any, files: dict[str, str], *, entry: str = "solution.py",
                    tests: Sequence[str] = (), name: str = "exec") -> ExecResult:
        """A sandbox run: served from the cassette, or made in ``sandbox`` (and recorded)."""
        request = {"files": dict(files), "entry": entry, "tests": list(tests), "name": name}
        digest = request_hash(request)
        found = self._take("sandbox", digest)
        if found is not None:
            result = exec_result(found["response"])
        else:
            result = sandbox.run(files, entry=entry, tests=tests, name=name)
        self._record({"kind": "sandbox", "key": name, "hash": digest, "request": request,
                      "response": exec_data(result)})
        return result

    def search(self, memory: Any, query: str, k: int, collections: Sequence[str], min_score: float | None,
               **options: Any) -> list[Hit]:
        """A memory search: served from the cassette, or asked of ``memory`` (and recorded)."""
        request = {"query": query, "k": k, "collections": list(collections), "min_score": min_score, **options}
        digest = request_hash(request)
        found = self._take("memory", digest)
        if found is not None:
            hits = [Hit(**h) for h in found["response"]]
        elif memory is None:  # a replay without a memory: the recording searched nothing like this
            hits = []
        else:
            hits = memory.search(query, k, collections=collections, min_score=min_score, **options)
        self._record({"kind": "memory", "key": query[:80], "hash": digest, "request": request,
                      "response": [_hit_data(h) for h in hits]})
        return hits

    def reflect(self, make: Callable[..., list[Message]]) -> Callable[..., list[Message]]:
        """The run's reflection: the recorded messages served (with this run's id), or ``make`` called."""
        def taped(transcript: list[Message], status: str, error: str | None) -> list[Message]:
            found = self._take("reflect", "end")
            if found is not None:
                out = [message_from_json(body).model_copy(update={"run_id": self.run_id})
                       for body in found["response"]]
            elif self.replaying and not self.live:  # the recording reflected nothing
                out = []
            else:
                out = make(transcript, status, error)
            self._record({"kind": "reflect", "key": "system", "hash": "end", "request": {"status": status},
                          "response": [message_to_json(m) for m in out]})
            return out

        return taped


def _hit_data(hit: Hit) -> dict[str, Any]:
    """``hit`` as its record keeps it (``dataclasses.asdict`` deep-copies: slower than the search it records)."""
    return {"id": hit.id, "collection": hit.collection, "text": hit.text, "score": hit.score,
            "metadata": dict(hit.metadata)}
