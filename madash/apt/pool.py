"""pool/SUITE/: the .deb files each suite's Packages index points at.

A host's pool holds its private key and the writer password: pool files are hard
links of dist/'s (or copies), owner-only like them, or readable by `[repo] group`
too (see madash.site.access).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from madash.apt.scan import Deb
from madash.site.access import Access


def fill(repo_dir: Path, suites: Mapping[str, Mapping[str, list[Deb]]], keep_versions: int, access: Access) -> set[str]:
    """Link (or copy) into pool/SUITE/ each package's newest and keep_versions older versions.

    Returns what the pool must keep, as "SUITE/FILE"; one directory read per suite
    rather than a stat per package.
    """
    keep: set[str] = set()
    access.secret_dir(repo_dir / "pool")
    for suite, packages in suites.items():
        pool = repo_dir / "pool" / suite
        access.secret_dir(pool)
        present = set(os.listdir(pool))
        for versions in packages.values():
            for deb in versions[: 1 + keep_versions]:
                name = deb.path.name
                keep.add(f"{suite}/{name}")
                if name not in present:
                    tmp = pool / f".{name}.tmp"
                    if tmp.exists() or tmp.is_symlink():  # left by a killed publish
                        tmp.unlink()
                    try:
                        os.link(deb.path, tmp)
                    except OSError:
                        shutil.copyfile(deb.path, tmp)
                    # A link shares dist/'s inode, so this also settles the mode of the file in dist/.
                    access.secret_file(tmp)
                    tmp.replace(pool / name)
    return keep


def prune(repo_dir: Path, keep: set[str], changed: Sequence[str], gone: Sequence[str]) -> list[str]:
    """Remove what the pool no longer needs: older versions past keep_versions, hosts gone."""
    removed = []
    pool = repo_dir / "pool"
    for suite in sorted({*changed, *gone}):
        if not (pool / suite).is_dir():
            continue
        names = sorted(os.listdir(pool / suite))
        for name in names:
            if name.endswith(".deb") and f"{suite}/{name}" not in keep:
                os.unlink(pool / suite / name)
                removed.append(f"pool/{suite}/{name}")
        if not any(f"{suite}/{name}" in keep for name in names):
            shutil.rmtree(pool / suite)
    return removed


def secure(repo_dir: Path, dist: Path, access: Access) -> None:
    """Give every package and directory of the pool and dist/ the site's access, after it changed."""
    if repo_dir.is_dir():
        access.apply(repo_dir, access.dir_mode)
    for top in (repo_dir / "pool", dist):
        if not top.is_dir():
            continue
        access.apply(top, access.dir_mode)
        for path in sorted(top.rglob("*")):
            if path.is_symlink():
                continue
            if path.is_dir():
                access.apply(path, access.dir_mode)
            elif path.name.endswith(".deb"):
                access.apply(path, access.file_mode)
