"""`madash-build repo`: the signed apt repository, checked with gpgv and apt-ftparchive."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from debian.deb822 import Deb822

from madash.apt import generations, scan
from madash.apt import publish as repo
from madash.errors import MadashError
from madash.packages import bake, server
from madash.site.config import Site, load_site
from tests.conftest import NOW, Result, assert_one_line_error, bake_host, run_cli_read_only, set_repo

Madash = Callable[..., Result]


def bake_server(site_dir: Path) -> bake.BakeResult:
    site = load_site(site_dir)
    return bake.bake_package(site, server.server_spec(server.gather(site, NOW)), NOW)


@pytest.fixture
def published(site_dir: Path) -> Path:
    bake_host(site_dir, "laptop", "smart")
    bake_host(site_dir, "web", "docker")
    bake_server(site_dir)
    repo.publish(load_site(site_dir), NOW)
    return site_dir / "repo"


def release_fields(path: Path) -> dict[str, str]:
    return {str(k): str(v) for k, v in Deb822(path.read_text()).items()}


def test_signatures_verify_with_the_exported_key(published: Path, tmp_path: Path) -> None:
    keyring = published / "madash-archive-keyring.gpg"
    for suite in ("server", "host-laptop", "host-web"):
        dists = published / "dists" / suite
        check = subprocess.run(
            ["gpgv", "--keyring", str(keyring), str(dists / "InRelease")], capture_output=True, check=False
        )
        assert check.returncode == 0, check.stderr
        check = subprocess.run(
            ["gpgv", "--keyring", str(keyring), str(dists / "Release.gpg"), str(dists / "Release")],
            capture_output=True, check=False,
        )  # fmt: skip
        assert check.returncode == 0, check.stderr
    # Another key does not verify it.
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    gpg = ["gpg", "--batch", "--homedir", str(other)]
    subprocess.run([*gpg, "--passphrase", "", "--quick-gen-key", "x <x@example.org>"], capture_output=True, check=True)
    subprocess.run(
        ["gpg", "--batch", "--homedir", str(other), "--export", "--output", str(tmp_path / "other.gpg")], check=True
    )
    subprocess.run(["gpgconf", "--homedir", str(other), "--kill", "gpg-agent"], check=False)
    wrong = subprocess.run(
        ["gpgv", "--keyring", str(tmp_path / "other.gpg"), str(published / "dists" / "server" / "InRelease")],
        capture_output=True, check=False,
    )  # fmt: skip
    assert wrong.returncode != 0


def test_release_fields_and_hashes(published: Path) -> None:
    dists = published / "dists" / "host-laptop"
    fields = release_fields(dists / "Release")
    for name in ("Origin", "Label", "Suite", "Codename", "Date", "Architectures", "Components", "SHA256", "SHA512"):
        assert name in fields, name
    assert fields["Suite"] == fields["Codename"] == "host-laptop"
    assert fields["Acquire-By-Hash"] == "yes" and fields["Components"] == "main"
    assert "Valid-Until" not in fields
    for algorithm in ("SHA256", "SHA512"):
        entries = [line.split() for line in fields[algorithm].splitlines() if line]
        assert {e[2].rsplit("/", 1)[1] for e in entries} == {"Packages", "Packages.gz"}
        for digest, size, path in entries:
            data = (dists / path).read_bytes()
            assert hashlib.new(algorithm.lower(), data).hexdigest() == digest and len(data) == int(size)
            assert (dists / Path(path).parent / "by-hash" / algorithm / digest).read_bytes() == data


def test_packages_match_apt_ftparchive(published: Path) -> None:
    ours = (published / "dists" / "host-laptop" / "main" / "binary-amd64" / "Packages").read_text()
    theirs = subprocess.run(
        ["apt-ftparchive", "packages", "pool/host-laptop"], cwd=published, capture_output=True, text=True, check=True
    ).stdout

    def parse(text: str) -> dict[str, str]:
        fields: dict[str, str] = {}
        key = ""
        for line in text.strip().splitlines():
            if line.startswith(" "):
                fields[key] += "\n" + line
            else:
                key, _, value = line.partition(": ")
                fields[key] = value
        return fields

    mine, reference = parse(ours), parse(theirs)
    shared = set(reference) - {"SHA1"}  # apt-ftparchive adds SHA1, which apt no longer uses
    assert {k: mine[k] for k in shared} == {k: reference[k] for k in shared}


def test_each_host_sees_only_its_own_package(published: Path) -> None:
    def listed(suite: str) -> set[str]:
        text = (published / "dists" / suite / "main" / "binary-amd64" / "Packages").read_text()
        return {line.split(": ")[1] for line in text.splitlines() if line.startswith("Package: ")}

    assert listed("host-laptop") == {"madash-client-laptop"}
    assert listed("host-web") == {"madash-client-web"}
    assert listed("server") == {"madash-server"}
    assert not (published / "dists" / "shared").exists(), "no shared suite without shared packages"
    assert [p.name for p in (published / "pool" / "host-laptop").iterdir()] == [
        p.name for p in (published.parent / "dist").glob("madash-client-laptop_*.deb")
    ]
    sources = (published / "sources" / "laptop.sources").read_text()
    # The server's suite holds the site's passwords: no host's source names it.
    assert "Suites: host-laptop\n" in sources and "Signed-By: /etc/apt/keyrings/madash.gpg" in sources


def test_publishing_twice_changes_nothing_and_reads_nothing_again(
    published: Path, site_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {p: p.stat().st_mtime_ns for p in published.rglob("*") if p.is_file()}
    target = os.readlink(published / "dists" / "host-laptop")
    web = os.readlink(published / "dists" / "host-web")
    reads: list[Path] = []
    original = scan.read_control

    def counted(path: Path, data: bytes | None = None) -> str:
        reads.append(path)
        return original(path, data)

    monkeypatch.setattr(scan, "read_control", counted)
    result = repo.publish(load_site(site_dir), NOW + dt.timedelta(hours=1))
    assert not result.changed and reads == []
    assert os.readlink(published / "dists" / "host-laptop") == target
    after = {p: p.stat().st_mtime_ns for p in published.rglob("*") if p.is_file()}
    assert after == before
    # One changed host: only its package is read, and a new generation replaces the old in one rename.
    bake_host(site_dir, "laptop", "sensors", now=NOW + dt.timedelta(hours=2))
    result = repo.publish(load_site(site_dir), NOW + dt.timedelta(hours=2))
    assert result.changed and [p.name.split("_")[0] for p in reads] == ["madash-client-laptop"]
    assert os.readlink(published / "dists" / "host-laptop") != target
    assert (published / "dists" / target).is_dir(), "the previous generation stays for clients mid-update"
    assert os.readlink(published / "dists" / "host-web") == web, "an unchanged suite is not touched"


def test_pool_keeps_the_configured_number_of_older_versions(site_dir: Path) -> None:
    set_repo(site_dir, keep_versions=1)
    versions = []
    for hour, feature in enumerate(["smart", "sensors", "docker", "nvidia"]):
        versions.append(bake_host(site_dir, "laptop", feature, now=NOW + dt.timedelta(hours=hour)).version)
    result = repo.publish(load_site(site_dir), NOW + dt.timedelta(hours=5))
    pool = sorted(p.name.split("_")[1] for p in (site_dir / "repo" / "pool" / "host-laptop").iterdir())
    assert pool == sorted(versions[-2:])
    assert result.suites["host-laptop"] == [f"madash-client-laptop {versions[-1]}"]


def test_valid_until_and_the_list_warning(published: Path, site_dir: Path, madash: Madash) -> None:
    set_repo(site_dir, valid_days=7)
    result = repo.publish(load_site(site_dir), dt.datetime.now(dt.UTC) - dt.timedelta(days=6, hours=12))
    assert result.changed
    fields = release_fields(published / "dists" / "server" / "Release")
    assert "Valid-Until" in fields
    listing = madash("--site", site_dir, "list")
    assert "warning: the repository's Release files expire on" in listing.err and "madash-build repo" in listing.err
    assert madash("--site", site_dir, "repo").code == 0  # half the validity has passed: re-signed
    assert "warning: the repository" not in madash("--site", site_dir, "list").err


# --- bad input: one line, non-zero exit, nothing half-published --------------------------------


def test_no_packages(site_dir: Path, madash: Madash) -> None:
    assert_one_line_error(madash("--site", site_dir, "repo"), 2, "no packages to publish")
    (site_dir / "dist").mkdir()
    assert_one_line_error(madash("--site", site_dir, "repo"), 2, "no packages to publish")
    assert not (site_dir / "repo").exists()


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("notes.txt", b"hello", "is not a .deb"),
        ("broken_1_all.deb", b"!<arch>\ngarbage", "is not a Debian package"),
    ],
)
def test_foreign_files_in_dist(
    published: Path, site_dir: Path, madash: Madash, name: str, data: bytes, needle: str
) -> None:
    target = os.readlink(published / "dists" / "host-laptop")
    (site_dir / "dist" / name).write_bytes(data)
    assert_one_line_error(madash("--site", site_dir, "repo"), 2, name, needle)
    assert os.readlink(published / "dists" / "host-laptop") == target


def test_a_package_that_is_not_madash_s(published: Path, site_dir: Path, madash: Madash, tmp_path: Path) -> None:
    from tests.standin import build_standin_telegraf

    deb = build_standin_telegraf(tmp_path)
    shutil.copy(deb, site_dir / "dist")
    assert_one_line_error(
        madash("--site", site_dir, "repo"), 2, "(telegraf) is not one of madash's packages", "extra_packages"
    )
    set_repo(site_dir, extra_packages=["telegraf"])
    assert madash("--site", site_dir, "repo").code == 0
    shared = (published / "dists" / "shared" / "main" / "binary-amd64" / "Packages").read_text()
    assert "Package: telegraf" in shared


def test_wrong_repository_passphrase(site_dir: Path, madash: Madash, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADASH_REPO_PASSPHRASE", "right one")  # the bake makes the key, for the default URL
    bake_host(site_dir, "laptop")
    assert madash("--site", site_dir, "repo").code == 0
    bake_host(site_dir, "laptop", "smart", now=NOW + dt.timedelta(hours=1))
    target = os.readlink(site_dir / "repo" / "dists" / "host-laptop")
    monkeypatch.setenv("MADASH_REPO_PASSPHRASE", "wrong one")
    assert_one_line_error(madash("--site", site_dir, "repo"), 1, "does not unlock", "MADASH_REPO_PASSPHRASE")
    assert os.readlink(site_dir / "repo" / "dists" / "host-laptop") == target
    monkeypatch.setenv("MADASH_REPO_PASSPHRASE", "right one")
    assert madash("--site", site_dir, "repo").code == 0


def test_publishing_runs_no_program(site_dir: Path) -> None:
    """Signing is in-process: no gpg (nor anything else) on PATH, and the repository still verifies."""
    bake_host(site_dir, "laptop")
    result = subprocess.run(
        [sys.executable, "-m", "madash.cli", "--site", str(site_dir), "repo"],
        capture_output=True, text=True, env={**os.environ, "PATH": "/nonexistent"}, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    keyring = site_dir / "repo" / "madash-archive-keyring.gpg"
    inrelease = site_dir / "repo" / "dists" / "host-laptop" / "InRelease"
    subprocess.run(["gpgv", "--keyring", str(keyring), str(inrelease)], capture_output=True, check=True)


def test_repo_not_writable(published: Path, site_dir: Path) -> None:
    bake_host(site_dir, "laptop", "docker", now=NOW + dt.timedelta(hours=1))
    target = os.readlink(published / "dists" / "host-laptop")
    result = run_cli_read_only(published, "--site", site_dir, "repo")
    assert result.returncode == 1 and result.stderr.startswith("madash-build: error: cannot write"), result.stderr
    assert os.readlink(published / "dists" / "host-laptop") == target


def test_spliced_stanzas_are_the_formatter_s(published: Path, site_dir: Path) -> None:
    """stanza()'s text splice gives what the deb822 formatter gives, and odd paragraphs take the formatter."""
    from dataclasses import replace

    from madash.apt.indexes import formatted_stanza, stanza

    debs, _ = scan.scan(load_site(site_dir), {})
    assert len(debs) == 3
    for deb in debs:
        assert stanza(deb, f"pool/x/{deb.path.name}") == formatted_stanza(deb, f"pool/x/{deb.path.name}")
        # Description not last, as other tools may write it: the formatter puts it last.
        lines = deb.cached.control.rstrip("\n").split("\n")
        at = next(i for i, line in enumerate(lines) if line.startswith("Description:"))
        moved = [*lines[at:], *lines[:at]]
        odd = replace(deb, cached=replace(deb.cached, control="\n".join(moved) + "\n"))
        assert stanza(odd, "pool/x/y.deb") == formatted_stanza(odd, "pool/x/y.deb")
        assert stanza(odd, "pool/x/y.deb").rstrip("\n").split("\n")[-1].startswith(" ")


@pytest.mark.parametrize("compression", ["gzip", "xz", "none"])
def test_the_control_reader_reads_what_dpkg_deb_reads(
    tmp_path: Path, compression: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scan's own ar and tar walk (gzip control tarballs) and its tarfile fallback (others)
    against dpkg-deb --info, on packages dpkg-deb built; a damaged header is refused."""
    tree = tmp_path / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "usr" / "share" / "doc" / "x").mkdir(parents=True)
    (tree / "usr" / "share" / "doc" / "x" / "README").write_text("x\n")
    control = "Package: x\nVersion: 1.0\nArchitecture: all\nMaintainer: A <a@example.org>\nDescription: d\n long\n"
    (tree / "DEBIAN" / "control").write_text(control)
    (tree / "DEBIAN" / "postinst").write_text("#!/bin/sh\nexit 0\n")
    (tree / "DEBIAN" / "postinst").chmod(0o755)
    deb = tmp_path / "x_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", f"-Z{compression}", str(tree), str(deb)],
                   check=True, capture_output=True)  # fmt: skip
    oracle = subprocess.run(["dpkg-deb", "--info", str(deb), "control"], check=True, capture_output=True).stdout
    if compression == "gzip":  # madash's own packages: read without tarfile
        monkeypatch.setattr(scan, "_control_by_tarfile", None)
    assert scan.read_control(deb) == oracle.decode().rstrip("\n")
    assert scan.read_control(deb, deb.read_bytes()) == oracle.decode().rstrip("\n")
    data = bytearray(deb.read_bytes())
    data[8 + 58] = ord("x")  # the first ar header's end mark
    damaged = tmp_path / "damaged.deb"
    damaged.write_bytes(bytes(data))
    with pytest.raises(MadashError, match="is not a Debian package"):
        scan.read_control(damaged)


def test_the_control_reader_checks_tar_checksums(tmp_path: Path) -> None:
    """A control tarball whose header checksum is wrong goes to tarfile, which refuses it."""
    tar = bytearray(512 * 3)
    name = b"./control"
    tar[: len(name)] = name
    tar[124:136] = b"%011o\0" % 4
    tar[156:157] = b"0"
    tar[148:156] = b"%06o\0 " % (sum(tar[:148]) + 256 + sum(tar[156:]) + 1)  # one off
    tar[512:516] = b"A: b"
    assert scan._tar_file(bytes(tar), "control") is None
    tar[148:156] = b"%06o\0 " % (sum(tar[:148]) + 256 + sum(tar[156:512]))
    assert scan._tar_file(bytes(tar), "control") == b"A: b"


def test_a_large_publish_builds_in_forked_workers_all_or_nothing(
    site_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above FORK_FROM suites, workers forked with the key build them: a failure in one leaves no
    generation anywhere and keeps its hint; a success verifies with gpgv in every suite."""
    hosts = ["a", "b", "c", "d", "e"]
    for host in hosts:
        bake_host(site_dir, host)
    monkeypatch.setattr(generations, "FORK_FROM", 2)
    original = generations._fill
    parent = os.getpid()

    def failing(site: Site, key: object, suite: str, *args: object) -> None:
        assert os.getpid() != parent, "built in this process, not in a worker"
        if suite == "host-d":
            raise MadashError("boom", hint="the hint")
        original(site, key, suite, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(generations, "_fill", failing)
    with pytest.raises(MadashError, match="boom") as raised:
        repo.publish(load_site(site_dir), NOW, jobs=2)
    assert raised.value.hint == "the hint"
    assert not list((site_dir / "repo" / ".suites").glob("*/*")), "no generation is left behind"
    assert not (site_dir / "repo" / "dists").exists()
    monkeypatch.setattr(generations, "_fill", original)
    repo.publish(load_site(site_dir), NOW, jobs=2)
    keyring = site_dir / "repo" / "madash-archive-keyring.gpg"
    for host in hosts:
        dists = site_dir / "repo" / "dists" / f"host-{host}"
        subprocess.run(["gpgv", "--keyring", str(keyring), str(dists / "InRelease")], capture_output=True, check=True)
        assert f"Package: madash-client-{host}\n" in (dists / "main" / "binary-i386" / "Packages").read_text()
