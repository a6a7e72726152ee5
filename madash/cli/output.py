"""Plain output for the terminal: tables, paths shown relative to where the user stands, one-line messages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from madash.site.values import control_character


def one_line(text: str) -> str:
    """A message as one line: a control character from a value (however it got there) shown escaped."""
    return "".join(f"\\u{ord(c):04x}" if control_character(c) else c for c in text)


def print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
