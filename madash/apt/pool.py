"""pool/SUITE/: the .deb files each suite's Packages index points at.

A host's pool holds its private key and the writer password: pool files keep the
mode of dist/'s (hard links, or copies with the same mode), owner-only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from madash.apt.scan import Deb


def fill(repo_dir: Path, suites: Mapping[str, Mapping[str, list[Deb]]], keep_versions: int) -> set[str]:
    """Link (or copy) into pool/SUITE/ each package's newest and keep_versions older versions.

    Returns what the pool must keep, as "SUITE/FILE"; one directory read per suite
    rather than a stat per package.
    """
    keep: set[str] = set()
    for suite, packages in suites.items():
        pool = repo_dir / "pool" / suite
        pool.mkdir(parents=True, exist_ok=True)
        present = set(os.listdir(pool))
        for versions in packages.values():
            for deb in versions[: 1 + keep_versions]:
                name = deb.path.name
                keep.add(f"{suite}/{name}")
                if name not in present:
                    tmp = pool / f".{name}.tmp"
                    try:
                        os.link(deb.path, tmp)
                    except OSError:
                        shutil.copyfile(deb.path, tmp)
                        tmp.chmod(deb.path.stat().st_mode & 0o777)
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
