"""Golden files: rendered output compared as text; `pytest --regen-golden` rewrites them."""

from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"


def check_golden(request: pytest.FixtureRequest, name: str, text: str) -> None:
    path = GOLDEN / name
    if request.config.getoption("--regen-golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing: run pytest --regen-golden and review the new file"
    assert text == path.read_text(), f"{name} differs from its golden file (pytest --regen-golden to accept)"
