"""Shared fixtures: a sample site, and helpers to run madash-build and compare trees."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from madash import cli
from madash.bootstrap import init_site
from madash.packages.bake import BakeResult
from madash.site.config import Site, load_site

# Real time: openssl and stunnel check validity against the clock, not against our "now".
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true", help="rewrite the golden files instead of comparing")


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def madash(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """Run madash-build in-process: madash(args...) -> Result."""
    monkeypatch.delenv("MADASH_SITE", raising=False)
    monkeypatch.delenv("MADASH_CA_PASSPHRASE", raising=False)

    def run(*args: str | Path) -> Result:
        capsys.readouterr()
        code = cli.main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    yield run


def run_cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed madash-build entry point as a separate process."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MADASH_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "madash.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        check=False,
    )


def run_cli_read_only(read_only: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """madash-build with ``read_only`` bind-mounted read-only, in a private mount namespace.

    Root ignores file modes, and the suite runs as root: a read-only mount is the honest way
    to make a directory unwritable for it. The mount dies with the command.
    """
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(read_only),
         sys.executable, "-m", "madash.cli", *map(str, args)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    init_site(root, ["127.0.0.1", "monitor.example.org"], "test site", force=False, ca_passphrase=None, now=NOW)
    return root


@pytest.fixture
def site(site_dir: Path) -> Site:
    return load_site(site_dir)


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under root with its mode and content hash: 'nothing changed' checks."""
    result: dict[str, tuple[int, str]] = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.name == ".madash.lock":
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        result[relative] = (path.stat().st_mode, digest)
    return result


def assert_one_line_error(result: Result, code: int, *needles: str) -> None:
    """A failure is one error line (plus an optional hint line) and the given exit code."""
    lines = result.err.strip().splitlines()
    assert result.code == code, result
    assert lines and lines[0].startswith("madash-build: error: "), result.err
    assert all(line.startswith(("madash-build: error: ", "madash-build: hint: ")) for line in lines), result.err
    assert len([line for line in lines if "error:" in line]) == 1, result.err
    assert "Traceback" not in result.err
    for needle in needles:
        assert needle in result.err, result.err


def set_repo(site_dir: Path, **values: object) -> None:
    """Set keys of madash.toml that init wrote (e.g. the [repo] ones) by rewriting their lines."""
    config = site_dir / "madash.toml"
    text = config.read_text()
    for key, value in values.items():
        if isinstance(value, bool):
            rendered = "true" if value else "false"
        else:
            rendered = f'"{value}"' if isinstance(value, str) else str(value).replace("'", '"')
        text = "\n".join(
            f"{key} = {rendered}" if line.startswith(f"{key} =") else line for line in text.splitlines()
        ) + "\n"  # fmt: skip
    config.write_text(text)


def bake_host(site_dir: Path, host: str, *features: str, now: dt.datetime = NOW) -> BakeResult:
    """Bake HOST with these features, as `madash-build client HOST --feature ...` does."""
    from madash.apt.identity import identity
    from madash.packages import fleet

    site = load_site(site_dir)
    return fleet.bake_host(
        site, host, apt=identity(site), features=list(features), interval=None, tags=None,
        passphrase=lambda: None, now=now,
    )  # fmt: skip
