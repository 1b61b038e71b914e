"""The speaking roles' replies as they stream in, and the run's spending, live in a terminal under its messages.

``huddle run`` feeds :class:`LiveTokens` the run's ``on_turn``, ``on_token`` and ``on_message``
callbacks; it draws nothing where the output is not a terminal (the caller does not make one there).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from studio.cli._budget import RunMeter
from studio.llm._streaming import RESTART
from studio.messages import Message

__all__ = ["LiveTokens"]


class LiveTokens:
    """The speaking roles' replies as they stream in, one live line each under the printed messages (a terminal).

    A line shows who speaks (``coder``, or ``coder.s2`` on a branch), how many pieces have come, for how long,
    and the last ``tail`` characters; a role whose reply cannot stream shows that it is thinking. The line goes
    when that role's message is published (and printed above). Feed it :meth:`turn`, :meth:`token` and
    :meth:`message` from any thread. With a ``meter``, a last line shows what the run spent against its budget
    (``tokens 1,234/20,000 · $0.0000 · 12.3s/60s · calls 5/40``), and one line each the roles with a budget of
    their own (the caller feeds the meter the run's messages).

    Example:
        >>> live = LiveTokens(Console(width=60, force_terminal=False))
        >>> live.token("coder", "def add(a, b):")
        >>> live.lines()[0].plain.startswith("coder · 1 tok · 0s  def add(a, b):")
        True
    """

    def __init__(self, console: Console, tail: int = 80, shown: int = 4, meter: RunMeter | None = None):
        self._tail, self._shown, self._meter = tail, shown, meter
        self._speaking: dict[str, list[Any]] = {}  # key -> [started, pieces, last characters]
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._spinner = Spinner("dots", style="cyan")
        self._live = Live(console=console, transient=True, refresh_per_second=8, get_renderable=self._render)

    def start(self) -> None:
        """Show the live lines (again, after :meth:`stop`)."""
        self._live.start()

    def stop(self) -> None:
        """Take the live lines off the terminal."""
        self._live.stop()

    def turn(self, key: str) -> None:
        """``key`` calls its model: its line starts over."""
        with self._lock:
            self._speaking.pop(key, None)
            self._speaking[key] = [time.monotonic(), 0, ""]

    def token(self, key: str, piece: str) -> None:
        """A piece of ``key``'s reply (``""``: it works on a reply that cannot stream); the first shows at once.

        ``RESTART``: the call failed part way and is tried again; its line starts over, the call's time runs on.
        """
        with self._lock:
            line = self._speaking.setdefault(key, [time.monotonic(), 0, ""])
            if piece == RESTART:
                line[1:] = [0, ""]
                return
            first = not line[1] and bool(piece)
            line[1] += bool(piece)
            line[2] = (line[2] + piece)[-self._tail:]
        if first and self._live.is_started:
            self._live.refresh()

    def message(self, message: Message) -> None:
        """``message`` is published: the line of its sender (on its branch) goes, before the message is printed."""
        with self._lock:
            gone = self._speaking.pop(f"{message.sender}.{message.branch}" if message.branch else message.sender, None)
        if gone is not None and self._live.is_started:
            self._live.refresh()  # else the print above the live lines would redraw them as they were

    def lines(self) -> list[Text]:
        """The live lines now: the most recent speakers, last the latest; then the meter's."""
        now = time.monotonic()
        with self._lock:
            speaking = list(self._speaking.items())[-self._shown:]
        meter = [] if self._meter is None else [self._meter.text(), *self._meter.role_texts()]
        metered = [Text(line, style="dim", no_wrap=True, overflow="ellipsis") for line in meter]
        if not speaking:
            return [Text(f"working… ({now - self._started:.0f}s)", style="dim"), *metered]
        out = []
        for key, (started, pieces, tail) in speaking:
            line = Text().append(key, style="bold")
            if not pieces:
                line.append(f" is thinking… ({now - started:.0f}s)")
            else:
                shown = " ".join(tail.split())[-self._tail:]
                line.append(f" · {pieces} tok · {now - started:.0f}s  ", style="dim").append(shown)
            line.no_wrap, line.overflow = True, "ellipsis"
            out.append(line)
        return out + metered

    def _render(self) -> Any:
        self._spinner.update(text=Text("\n").join(self.lines()))
        return self._spinner
