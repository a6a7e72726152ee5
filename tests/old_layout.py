"""madash as it was before nothing generated was a conffile: the toolkit at that commit.

The migration tests bake a host's first package with that toolkit, exactly as sites
installed it, and upgrade to the current one. The tree is kept in
tests/fixtures/toolkit-conffile-layout.tar.gz, made once with

    git archive --format=tar CONFFILE_LAYOUT madash conf debian dashboards | gzip -n -9

so that a checkout without that history (a shallow CI clone) has it too; a test checks
the tarball against the commit wherever the history is there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import tomlkit

from madash.site.config import load_site, repo_url

REPO_ROOT = Path(__file__).resolve().parent.parent
# The last commit whose client packages shipped everything under /etc/madash as conffiles.
CONFFILE_LAYOUT = "fa605bfa2c74f24aaef9e9187f53fd328a0ff126"


FROZEN = REPO_ROOT / "tests" / "fixtures" / "toolkit-conffile-layout.tar.gz"
# The sha256 of FROZEN's tar (uncompressed), which is git archive's output for the commit.
FROZEN_SHA256 = "5d2a53eca73ca70be5f3d7b756f8d482610c5bd0ab54f3e216941199faefcb91"


def old_toolkit(dest: Path) -> Path:
    """The toolkit's tree at CONFFILE_LAYOUT, unpacked into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-z", "-f", str(FROZEN), "-C", str(dest)], check=True)
    return dest


def archive_of_commit() -> bytes | None:
    """What FROZEN was made from, when this checkout's history has the commit; None in a shallow clone."""
    known = subprocess.run(["git", "-C", str(REPO_ROOT), "cat-file", "-e", f"{CONFFILE_LAYOUT}^{{commit}}"],
                           capture_output=True, check=False)  # fmt: skip
    if known.returncode != 0:
        return None
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", "--format=tar", CONFFILE_LAYOUT,
                              "madash", "conf", "debian", "dashboards"], capture_output=True, check=True)  # fmt: skip
    return archive.stdout


# Keys that `init` writes into madash.toml since CONFFILE_LAYOUT, which the old toolkit refuses as unknown:
# a site made in those days had none of them.
NEWER_KEYS = {"server": ("repo_port",), "repo": ("serve",)}


def run_old(tree: Path, *args: str | Path) -> str:
    """madash-build from the old tree (its own templates: data_root() is the tree), as a separate process,
    on the site's madash.toml as that toolkit knew it (NEWER_KEYS left out while it runs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADASH_")}
    env["PYTHONPATH"] = str(tree)
    words = [str(a) for a in args]
    config = Path(words[words.index("--site") + 1]) / "madash.toml"
    document = tomlkit.parse(config.read_text())
    # The repository's URL had no default then: a site of those days named it.
    url = repo_url(load_site(config.parent).config)
    added_url = bool(url) and not document.get("repo", {}).get("url")
    taken = {(t, k): document[t].pop(k) for t, keys in NEWER_KEYS.items() for k in keys if k in document.get(t, {})}
    if added_url:
        document.setdefault("repo", tomlkit.table())["url"] = url
    config.write_text(tomlkit.dumps(document))
    try:
        result = subprocess.run([sys.executable, "-m", "madash.cli", *words],
                                capture_output=True, text=True, env=env, check=False, cwd=tree)  # fmt: skip
    finally:  # the keys go back beside whatever the old toolkit wrote (a host it added)
        document = tomlkit.parse(config.read_text())
        for (table, key), value in taken.items():
            document[table][key] = value
        if added_url:
            document["repo"].pop("url", None)
        config.write_text(tomlkit.dumps(document))
    assert result.returncode == 0, f"old madash-build {' '.join(words)}: {result.stderr}"
    return result.stdout
