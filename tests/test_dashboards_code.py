"""dashboards/*.json are written by scripts/write_dashboards.py from typed code: the committed files are exactly
what the code writes, and the toolkit itself never needs the SDK."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "write_dashboards.py"


def test_committed_dashboards_are_what_the_code_writes(tmp_path: Path) -> None:
    written = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert written.returncode == 0, written.stderr
    fresh = {path.name: path.read_text() for path in tmp_path.glob("*.json")}
    committed = {path.name: path.read_text() for path in (ROOT / "dashboards").glob("*.json")}
    assert sorted(fresh) == sorted(committed), "a dashboard without code, or code without its dashboard"
    stale = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not stale, f"{stale} differ from what scripts/write_dashboards.py writes: run it and commit the result"


def test_the_toolkit_never_imports_the_sdk() -> None:
    for path in (ROOT / "madash").rglob("*.py"):
        assert "grafana_foundation_sdk" not in path.read_text(), f"{path}: the SDK is a development dependency"
