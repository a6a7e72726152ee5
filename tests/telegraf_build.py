"""Real Telegraf binaries for the tests, built by scripts/build-telegraf with exactly madash's plugins.

scripts/test runs the build before pytest and exports each binary's path as
MADASH_TELEGRAF_<MAJOR>_<MINOR> (e.g. MADASH_TELEGRAF_1_32); without it (a plain
``pytest`` run) the script runs here, once per version, and answers from its
cache when the recipe is unchanged.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest

__all__ = ["NEWEST", "OLDEST", "VERSIONS", "telegraf_binary"]

# The probe image's version, and the newest release madash is tested with.
OLDEST = "1.32.3"
NEWEST = "1.39.3"
VERSIONS = (OLDEST, NEWEST)
BUILD_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "build-telegraf"


def env_name(version: str) -> str:
    major, minor, _ = version.split(".")
    return f"MADASH_TELEGRAF_{major}_{minor}"


@functools.cache
def telegraf_binary(version: str) -> Path:
    """The path of a real telegraf at ``version``; fails the test if it cannot be had."""
    given = os.environ.get(env_name(version))
    if given:
        binary = Path(given)
    else:
        # A cold build of one version takes minutes (see the README); a cached one under a second.
        built = subprocess.run([str(BUILD_SCRIPT), version], capture_output=True, text=True, timeout=1800, check=False)
        if built.returncode != 0:
            pytest.fail(f"scripts/build-telegraf {version} failed ({built.returncode}):\n{built.stderr[-3000:]}")
        binary = Path(built.stdout.strip().splitlines()[-1])
    reported = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False).stdout.strip()
    # The path may come from the environment: make sure it is the version it claims to be.
    if reported != f"Telegraf {version}":
        pytest.fail(f"{binary} reports {reported!r}, not Telegraf {version}")
    return binary
