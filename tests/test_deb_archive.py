"""The in-process .deb writer against dpkg-deb, the oracle.

Every kind of package madash bakes (a client with each feature, a client with none,
the server) is built twice: by madash's writer during a real bake, and by
`dpkg-deb --build --root-owner-group -Zgzip -z6` over write_tree's layout of the same
spec. dpkg-deb's views (-I, -c, --fsys-tarfile) must agree, and so must the bytes.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest

from madash.deb import writer
from madash.deb.spec import FileEntry, PackageSpec
from madash.packages import bake, server
from madash.site.config import load_site
from madash.site.features import NAMES
from tests.conftest import NOW, bake_host

Built = tuple[PackageSpec, str, int, bytes]  # the spec, version, epoch and the .deb madash wrote


def dpkg_deb(spec: PackageSpec, version: str, epoch: int, work: Path) -> Path:
    tree, output = work / f"{spec.name}.tree", work / f"{spec.name}.oracle.deb"
    writer.write_tree(spec, version, tree, epoch)
    env = {"PATH": os.environ["PATH"], "SOURCE_DATE_EPOCH": str(epoch)}
    subprocess.run([str(arg) for arg in writer.build_command(tree, output)], env=env, check=True, capture_output=True)
    return output


def views(deb: Path) -> dict[str, bytes]:
    """What dpkg makes of a .deb: its control information, its listing and its file system tarball."""
    return {
        option: subprocess.run(["dpkg-deb", option, str(deb)], capture_output=True, check=True).stdout
        for option in ("-I", "-c", "--fsys-tarfile")
    }


def assert_same_as_dpkg_deb(built: Built, work: Path) -> None:
    spec, version, epoch, data = built
    oracle = dpkg_deb(spec, version, epoch, work)
    path = work / f"{spec.name}.ours.deb"
    path.write_bytes(data)
    ours = views(path)
    assert ours == views(oracle), spec.name
    assert b"drwxr-xr-x root/root" in ours["-c"]
    assert data == oracle.read_bytes(), spec.name


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[Built]:
    """Every package the bake writes, with the spec it was written from."""
    seen: list[Built] = []
    real = writer.write_deb

    def spy(spec: PackageSpec, version: str, out_dir: Path, epoch: int, scratch: Path, mode: int) -> Path:
        path = real(spec, version, out_dir, epoch, scratch, mode)
        seen.append((spec, version, epoch, path.read_bytes()))
        return path

    monkeypatch.setattr(bake, "write_deb", spy)
    return seen


@pytest.mark.parametrize("feature", [None, *NAMES])
def test_client_package_is_what_dpkg_deb_makes(
    feature: str | None, site_dir: Path, tmp_path: Path, recorded: list[Built]
) -> None:
    result = bake_host(site_dir, "h1", *([feature] if feature else []))
    [built] = recorded
    assert result.path.read_bytes() == built[3]  # what dist/ holds is what the writer wrote
    assert_same_as_dpkg_deb(built, tmp_path)


def test_server_package_is_what_dpkg_deb_makes(site_dir: Path, tmp_path: Path, recorded: list[Built]) -> None:
    site = load_site(site_dir)
    bake.bake_package(site, server.server_spec(server.gather(site, NOW)), NOW)
    [built] = recorded
    assert built[0].name == "madash-server"
    assert_same_as_dpkg_deb(built, tmp_path)


def spec_with(*files: FileEntry, dirs: tuple[str, ...] = ()) -> PackageSpec:
    control = {"Architecture": "all", "Maintainer": "T <t@example.org>", "Description": "t\n test package"}
    return PackageSpec("t", control, files, dirs, {"postinst": "#!/bin/sh\nset -e\n"})


def test_long_names_odd_sizes_modes_and_empty_dirs(tmp_path: Path) -> None:
    """GNU tar's long names start past 100 bytes of "./path": every length around it, as dpkg-deb writes them."""
    files = [FileEntry("/usr/share/t/" + "n" * length, b"x" * length) for length in range(80, 125)]
    files += [
        FileEntry("/usr/bin/t", b"#!/bin/sh\n", 0o755),
        FileEntry("/usr/share/t/empty", b""),
        FileEntry("/usr/share/t/big", os.urandom(300_000)),
        FileEntry("/etc/t/secret.conf", b"k=v\n", 0o600, conffile=True),
        FileEntry("/usr/share/" + "d" * 120 + "/f", b"deep"),
    ]
    spec = spec_with(*files, dirs=("/var/lib/t", "/var/lib/" + "e" * 110))
    epoch = int(dt.datetime(2026, 1, 2, tzinfo=dt.UTC).timestamp())
    out = tmp_path / "out"
    out.mkdir()
    path = writer.write_deb(spec, "1.0", out, epoch, out, 0o600)
    assert [p.name for p in out.iterdir()] == [path.name]  # no temporary file left
    assert (path.stat().st_mode & 0o777) == 0o600
    assert_same_as_dpkg_deb((spec, "1.0", epoch, path.read_bytes()), tmp_path)


def test_reproducible_and_any_change_shows(tmp_path: Path) -> None:
    spec = spec_with(FileEntry("/usr/share/t/a", b"a"))
    first = writer.package_bytes(spec, "1.0", 1_700_000_000)
    assert writer.package_bytes(spec, "1.0", 1_700_000_000) == first
    assert writer.package_bytes(spec, "1.0", 1_700_000_001) != first
    assert writer.package_bytes(spec_with(FileEntry("/usr/share/t/a", b"b")), "1.0", 1_700_000_000) != first


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(Exception, match="no space left on device"):
        writer.write_deb(spec_with(FileEntry("/usr/share/t/a", b"a")), "1.0", tmp_path, 0, tmp_path, 0o600)
    assert list(tmp_path.iterdir()) == []
