"""Shared vector memory for a team (embedder + chromadb store).

Reserved for the memory issue: retrieval, knowledge ingestion and reflections
land here. Nothing in this package is used yet.
"""

__all__: list[str] = []
