"""A non-editable install finds its templates the same way a checkout does."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_non_editable_install_carries_the_templates(tmp_path: Path) -> None:
    target = tmp_path / "site-packages"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    probe = "import madash.resources as r; print(r.data_root())"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(target)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    root = Path(result.stdout.strip())
    assert root == target / "madash" / "data"
    for name in ("conf", "debian", "dashboards"):
        shipped = sorted(
            p.relative_to(ROOT / name) for p in (ROOT / name).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        )
        installed = sorted(
            p.relative_to(root / name) for p in (root / name).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        )
        assert installed == shipped, name
    assert (target / "bin" / "madash-build").exists()
