"""Site snippets are regular files inside the site, bounded, free of the site's secrets, and shipped to Telegraf only.

A failing bake must leave the site as it was, even for a new host whose entry,
certificate and package would all be made by the same command.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from madash.deb.reader import read_deb
from tests.conftest import Result, assert_one_line_error, bake_host, snapshot

Madash = Callable[..., Result]


def _symlink_out(site: Path, snippets: Path) -> None:
    (snippets / "evil.conf").symlink_to(site / "secrets.toml")


def _symlink_etc(site: Path, snippets: Path) -> None:
    (snippets / "evil.conf").symlink_to("/etc/passwd")


def _fifo(site: Path, snippets: Path) -> None:
    os.mkfifo(snippets / "evil.conf")


def _device(site: Path, snippets: Path) -> None:
    os.mknod(snippets / "evil.conf", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero's numbers


def _huge(site: Path, snippets: Path) -> None:
    (snippets / "evil.conf").write_text("# padding\n" * 10_000)


def _password(site: Path, snippets: Path) -> None:
    password = tomllib.loads((site / "secrets.toml").read_text())["influxdb_admin_password"]
    (snippets / "evil.conf").write_text(f'[[outputs.influxdb]]\n  password = "{password}"\n')


def _private_key(site: Path, snippets: Path) -> None:
    key = (site / "pki" / "server.key").read_text()
    (snippets / "evil.conf").write_text(f"# {key.splitlines()[0]}\n")


def _not_toml(site: Path, snippets: Path) -> None:
    (snippets / "evil.conf").write_text("[[inputs.cpu]\n")


def _dir_symlink(site: Path, snippets: Path) -> None:
    (snippets / "laptop").rmdir()
    (snippets / "laptop").symlink_to(site / "pki")


CASES = {
    "symlink to a site secret": (_symlink_out, "symbolic link"),
    "symlink out of the site": (_symlink_etc, "symbolic link"),
    "FIFO": (_fifo, "not a regular file"),
    "character device": (_device, "not a regular file"),
    "larger than 64 KiB": (_huge, "larger than"),
    "the admin password": (_password, "secrets"),
    "a private key": (_private_key, "secrets"),
    "not TOML": (_not_toml, "evil.conf"),
    "host directory a symlink": (_dir_symlink, "symbolic link"),
}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_bad_snippet_refuses_the_bake_of_a_new_host_and_changes_nothing(site_dir: Path, case: str) -> None:
    make, needle = CASES[case]
    snippets = site_dir / "snippets"
    (snippets / "laptop").mkdir(parents=True)
    make(site_dir, snippets)
    before = snapshot_safely(site_dir)
    # A subprocess with a timeout: a FIFO must not hang the bake.
    result = subprocess.run(
        [sys.executable, "-m", "madash.cli", "--site", str(site_dir), "client", "laptop", "--feature", "smart"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert_one_line_error(Result(result.returncode, result.stdout, result.stderr), 2, needle)
    assert snapshot_safely(site_dir) == before, "no [hosts.laptop], no certificate, no package"


def snapshot_safely(root: Path) -> dict[str, tuple[int, str]]:
    """snapshot() of everything but links, FIFOs and devices, which it cannot read (they are moved aside meanwhile)."""
    skipped = {p for p in root.rglob("*") if p.is_symlink() or (p.exists() and not (p.is_file() or p.is_dir()))}
    hidden = root.parent / f".{root.name}-hidden"
    hidden.mkdir()
    moved: list[tuple[Path, Path]] = []
    for path in skipped:
        target = hidden / str(len(moved))
        os.rename(path, target)
        moved.append((target, path))
    try:
        return snapshot(root)
    finally:
        for target, path in moved:
            os.rename(target, path)
        hidden.rmdir()


def test_snippets_ship_readable_by_root_and_telegraf_only(site_dir: Path) -> None:
    (site_dir / "snippets" / "laptop").mkdir(parents=True)
    (site_dir / "snippets" / "all.conf").write_text("[[inputs.kernel_vmstat]]\n")
    (site_dir / "snippets" / "laptop" / "mine.conf").write_text("[[inputs.conntrack]]\n")
    contents = read_deb(bake_host(site_dir, "laptop").path)
    for name in ("site-all.conf", "host-mine.conf"):
        path = f"/var/lib/madash-client-laptop/telegraf.d/{name}"
        member = contents.members[path]
        assert member.mode & 0o777 == 0o600 and member.owner == "root", "root-only at unpack"
        # configure hands it to the telegraf group, like the host's key, and nobody else.
        assert f"chown root:telegraf {path}" in contents.scripts["postinst"]
        assert f"chmod 0640 {path}" in contents.scripts["postinst"]
