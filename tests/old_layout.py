"""madash as it was before nothing generated was a conffile: the toolkit at that commit, from git.

The migration tests bake a host's first package with that toolkit, exactly as sites
installed it, and upgrade to the current one. The tree comes from this repository's
own history (``git archive``), so a clone with its history is all it needs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# The last commit whose client packages shipped everything under /etc/madash as conffiles.
CONFFILE_LAYOUT = "fa605bfa2c74f24aaef9e9187f53fd328a0ff126"


def old_toolkit(dest: Path) -> Path:
    """The toolkit's tree at CONFFILE_LAYOUT, unpacked into ``dest``."""
    known = subprocess.run(["git", "-C", str(REPO_ROOT), "cat-file", "-e", f"{CONFFILE_LAYOUT}^{{commit}}"],
                           capture_output=True, check=False)  # fmt: skip
    if known.returncode != 0:
        pytest.fail(f"commit {CONFFILE_LAYOUT} is not in {REPO_ROOT}'s history: the tests need a full clone")
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", "--format=tar", CONFFILE_LAYOUT,
                              "madash", "conf", "debian", "dashboards"], capture_output=True, check=True)  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def run_old(tree: Path, *args: str | Path) -> str:
    """madash-build from the old tree (its own templates: data_root() is the tree), as a separate process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADASH_")}
    env["PYTHONPATH"] = str(tree)
    result = subprocess.run([sys.executable, "-m", "madash.cli", *map(str, args)],
                            capture_output=True, text=True, env=env, check=False, cwd=tree)  # fmt: skip
    assert result.returncode == 0, f"old madash-build {' '.join(map(str, args))}: {result.stderr}"
    return result.stdout
