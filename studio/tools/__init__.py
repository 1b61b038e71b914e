"""Tools a role may call: typed Python functions and MCP servers' tools, and the team served over MCP.

Example:
    >>> from studio.tools import function_tool
    >>> def shout(text: str) -> str:
    ...     '''Say it louder.'''
    ...     return text.upper()
    >>> function_tool(shout).call({"text": "hi"}).text
    'HI'
"""

from __future__ import annotations

from studio.tools.base import MAX_RESULT_CHARS, Tool, ToolConfigError, ToolOutcome, cap
from studio.tools.function import function_tool, import_function, reference

__all__ = ["MAX_RESULT_CHARS", "Tool", "ToolConfigError", "ToolOutcome", "cap", "function_tool", "import_function",
           "reference"]
