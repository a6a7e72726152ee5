"""Progress of long work for the CLI: a rich progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Protocol

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Item(Protocol):
    @property
    def host(self) -> str: ...

    @property
    def error(self) -> str | None: ...


class Reporter:
    def __init__(self, total: int, what: str, *, interactive: bool) -> None:
        self.total = total
        self.what = what
        self.done = 0
        self._bar: Progress | None = None
        if interactive:
            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
            )
            self._task = self._bar.add_task(what, total=total)

    def __enter__(self) -> Reporter:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, item: Item) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=f"{self.what} {item.host}")
        elif item.error:
            print(f"[{self.done}/{self.total}] {item.host}: failed: {item.error}", file=sys.stderr)
        elif self.done == self.total or self.done % max(self.total // 10, 1) == 0:
            # Plain lines for logs and pipes, every tenth of the way; the summary table follows.
            print(f"[{self.done}/{self.total}] {self.what}", file=sys.stderr)
