"""Who can read what the site holds, whatever the umask and a pre-existing site directory's mode.

A site made with umask 022 in a directory that already existed with mode 0755 (as
`mkdir -p` leaves it), then baked and published: every file holding a secret (keys,
secrets.toml, every .deb, the pool, the signing key's home) and every directory
above one is the owner's only, or also `[repo] group`'s where that is set; no file
of the whole site is readable by others but the public ones.
"""

from __future__ import annotations

import grp
import os
import stat
from collections.abc import Iterator
from fnmatch import fnmatch  # '*' matches '/' too: patterns name whole subtrees
from pathlib import Path

import pytest

from tests.conftest import run_cli

GROUP = "daemon"  # any group other than root's own, present on every Debian system

# Public by nature: certificates, the CRL, the index of serials, the configuration,
# the repository's metadata (indexes, signatures, the public key, apt sources), and the
# admin's own snippet (a snippet holding a secret is refused at bake time).
PUBLIC_PATTERNS = (
    "madash.toml",
    "pki/ca.crt",
    "pki/server.crt",
    "pki/clients/*.crt",
    "pki/crl.pem",
    "pki/index.json",
    "repo/dists/**",
    "repo/.suites/**",
    "repo/sources/*.sources",
    "repo/madash-archive-keyring.gpg",
    "snippets/*.conf",
)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def madash(site: Path, *args: str) -> None:
    result = run_cli("--site", site, *args)
    assert result.returncode == 0, result.stderr


def set_group(site: Path, group: str | None) -> None:
    config = site / "madash.toml"
    lines = [line for line in config.read_text().splitlines() if not line.startswith("group =")]
    if group is not None:
        at = next(i for i, line in enumerate(lines) if line.startswith("keep_versions ="))
        lines.insert(at + 1, f'group = "{group}"')
    config.write_text("\n".join(lines) + "\n")


def is_secret(relative: Path) -> bool:
    top = relative.parts[0]
    return (
        relative.suffix in (".key", ".deb")
        or relative.name == "secrets.toml"
        or top == "repo-key"
        or relative.parts[:2] == ("repo", "pool")
    )


def is_public(relative: Path) -> bool:
    return any(fnmatch(str(relative), pattern) for pattern in PUBLIC_PATTERNS)


def check_modes(site: Path, group: str | None) -> list[str]:
    """Every way the site's modes fall short, as "path: why" lines."""
    gid = grp.getgrnam(group).gr_gid if group else None
    problems: list[str] = []
    secret_dirs: set[Path] = set()
    for path in sorted(site.rglob("*")):
        info = path.lstat()
        relative = path.relative_to(site)
        if stat.S_ISLNK(info.st_mode) or stat.S_ISDIR(info.st_mode):
            continue
        mode = stat.S_IMODE(info.st_mode)
        if is_secret(relative):
            secret_dirs.update(p for p in path.parents if p == site or site in p.parents)
            shared = gid is not None and relative.suffix == ".deb" and info.st_gid == gid
            allowed = 0o640 if shared else 0o600
            if mode & ~allowed:
                problems.append(f"{relative}: {mode:o}, a secret, allowed {allowed:o}")
            if relative.suffix == ".deb" and gid is not None and info.st_gid != gid:
                problems.append(f"{relative}: group {info.st_gid}, not {group}")
        elif mode & 0o004 and not is_public(relative):
            problems.append(f"{relative}: {mode:o}, world-readable")
    for directory in sorted(secret_dirs):
        info = directory.stat()
        mode = stat.S_IMODE(info.st_mode)
        relative = directory.relative_to(site) if directory != site else Path("(the site)")
        if mode & 0o007:
            problems.append(f"{relative}/: {mode:o}, others may enter above a secret")
        if mode & 0o070 and (gid is None or info.st_gid != gid):
            problems.append(f"{relative}/: {mode:o}, a group may enter above a secret")
    return problems


def exact_modes(site: Path, group: str | None) -> dict[str, str]:
    """The modes the README promises, as found."""
    found = {
        "(the site)": site,
        "dist/": site / "dist",
        "repo/pool/": site / "repo" / "pool",
        "secrets.toml": site / "secrets.toml",
        "pki/ca.key": site / "pki" / "ca.key",
        "pki/clients/laptop.key": site / "pki" / "clients" / "laptop.key",
    }
    found |= {f"repo/pool/{p.name}/": p for p in (site / "repo" / "pool").iterdir()}
    found |= {str(p.relative_to(site)): p for p in (site / "dist").glob("*.deb")}
    found |= {str(p.relative_to(site)): p for p in (site / "repo" / "pool").glob("*/*.deb")}
    return {name: f"{stat.S_IMODE(path.stat().st_mode):o}" for name, path in found.items()}


def expected_modes(names: list[str], group: str | None) -> dict[str, str]:
    def mode(name: str) -> str:
        if name == "(the site)":
            return "710" if group else "700"
        if name.endswith("/"):
            return "750" if group else "700"
        if name.endswith(".deb"):
            return "640" if group else "600"
        return "600"

    return {name: mode(name) for name in names}


def test_every_secret_is_its_owners_only(tmp_path: Path, umask_022: None) -> None:
    site = tmp_path / "site"
    site.mkdir(mode=0o755)
    madash(site, "init", "--server", "127.0.0.1")
    config = site / "madash.toml"
    config.write_text(config.read_text().replace('url = ""', 'url = "file:///srv/madash"'))
    (site / "snippets").mkdir()
    (site / "snippets" / "extra.conf").write_text("[[inputs.mem]]\n")
    madash(site, "client", "laptop", "--feature", "smart")
    madash(site, "client", "desktop")
    madash(site, "renew", "laptop")  # keys written aside (pki/.pending-N) and moved into place
    madash(site, "renew", "--server")
    madash(site, "client", "laptop")
    madash(site, "server")
    madash(site, "repo")

    assert check_modes(site, None) == []
    found = exact_modes(site, None)
    assert found == expected_modes(list(found), None)
    assert stat.S_IMODE((site / "repo" / "dists").stat().st_mode) == 0o755  # metadata stays readable

    # A web server's group: the pool and dist/ open to it, nothing else; for an existing site too.
    set_group(site, GROUP)
    madash(site, "client", "desktop", "--feature", "docker")  # a new package, and unchanged ones
    madash(site, "repo")
    assert check_modes(site, GROUP) == []
    found = exact_modes(site, GROUP)
    assert found == expected_modes(list(found), GROUP)
    gid = grp.getgrnam(GROUP).gr_gid
    assert {p.stat().st_gid for p in (site / "repo" / "pool").rglob("*")} == {gid}

    # And back to the owner only.
    set_group(site, None)
    madash(site, "repo")
    assert check_modes(site, None) == []
    found = exact_modes(site, None)
    assert found == expected_modes(list(found), None)


def test_an_unknown_group_is_refused(tmp_path: Path) -> None:
    site = tmp_path / "site"
    madash(site, "init", "--server", "127.0.0.1")
    set_group(site, "no-such-group")
    result = run_cli("--site", site, "client", "laptop")
    assert result.returncode != 0
    assert "no group 'no-such-group'" in result.stderr and "Traceback" not in result.stderr
    set_group(site, "Bad;Name")
    result = run_cli("--site", site, "repo")
    assert result.returncode == 2 and "repo.group" in result.stderr, result.stderr
