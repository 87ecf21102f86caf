"""How the stages report progress to the entry point: callbacks, never printing (STYLE.md)."""

from __future__ import annotations

from collections.abc import Callable

Log = Callable[[str], None]  # one line of progress
EpochLog = Callable[[str, int, int, dict], None]  # (model name, epoch, epochs, the epoch's logs)
FoldLog = Callable[[int, int], None]  # (sequences folded, of how many)
