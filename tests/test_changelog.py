"""Changelogs that say what changed since the previous version, read back by dpkg-parsechangelog and lintian."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from debian_inspector.version import Version

from madash import __version__
from madash.deb.reader import read_deb
from madash.deb.spec import FileEntry, PackageSpec
from madash.errors import SiteError
from madash.packages import bake, changelog, server
from madash.site.config import load_site
from tests.conftest import NOW, Result, assert_one_line_error, bake_host, snapshot

LATER = NOW + dt.timedelta(hours=1)


def _changelog(deb: Path, tmp_path: Path) -> tuple[str, Path]:
    contents = read_deb(deb)
    name = contents.control["Package"]
    text = gzip.decompress(contents.members[f"/usr/share/doc/{name}/changelog.gz"].data or b"").decode()
    path = tmp_path / f"{name}-{contents.control['Version']}.changelog"
    path.write_text(text)
    return text, path


def _entries(path: Path) -> list[dict[str, str]]:
    """Every entry as dpkg-parsechangelog (the real one) reads it, newest first."""
    out = subprocess.run(
        ["dpkg-parsechangelog", "-l", str(path), "--all", "--format", "rfc822"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    entries = []
    for paragraph in out.strip().split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in paragraph.split("\n"):
            if line.startswith(" "):
                fields[key] += " " + line.strip()
            else:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        # Changes as one line, its own line breaks and wrapping gone: "* a. * b, c."
        fields["Changes"] = " ".join(fields.get("Changes", "").replace(" . ", " ").split())
        entries.append(fields)
    return entries


def _newest(site_dir: Path) -> Path:
    return max(
        site_dir.glob("dist/madash-client-laptop_*.deb"), key=lambda p: Version.from_string(p.name.split("_")[1])
    )


# Not about changelogs: a site snippet is shipped 0600 (it may hold a secret) without an override yet.
KNOWN: set[str] = set()


def _lintian(deb: Path) -> None:
    result = subprocess.run(
        ["lintian", "--pedantic", "--info", "--tag-display-limit", "0", str(deb)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    tags = {line for line in result.stdout.splitlines() if line[:2] in ("E:", "W:", "I:", "P:")}
    assert result.returncode == 0 and tags <= KNOWN, result.stdout + result.stderr


def test_a_client_s_changelog_says_what_changed_and_keeps_older_entries(
    site_dir: Path, tmp_path: Path, madash: Callable[..., Result]
) -> None:
    first = bake_host(site_dir, "laptop", "smart")
    text, path = _changelog(first.path, tmp_path)
    [entry] = _entries(path)
    assert entry["Source"] == "madash-client-laptop" and entry["Version"] == first.version
    assert f"First package for laptop, built by madash-build {__version__}." in entry["Changes"]

    snippets = site_dir / "snippets" / "laptop"
    snippets.mkdir(parents=True)
    (snippets / "extra.conf").write_text('[[inputs.mem]]\n  fieldinclude = ["used_percent"]\n')
    result = madash("--site", site_dir, "client", "laptop", "--feature", "docker", "--feature", "sensors",
                    "--interval", "30s", "--tag", "role=web -- server (1) unstable; urgency=high")  # fmt: skip
    assert result.code == 0, result.err
    second = _newest(site_dir)
    text, path = _changelog(second, tmp_path)
    newest, oldest = _entries(path)
    assert oldest["Version"] == first.version and "First package for laptop" in oldest["Changes"]
    changes = newest["Changes"]
    for line in (
        "Feature docker added.",
        "Feature sensors added.",
        "Feature smart removed.",
        "Interval changed from 10s to 30s.",
        "Snippet host-extra.conf added.",
        "Depends changed from telegraf, passwd, smartmontools, sudo to telegraf,",
        "Recommends removed (was nvme-cli).",
        "Files added: /var/lib/madash-client-laptop/telegraf.d/host-extra.conf.",
        "/usr/share/madash-client-laptop/telegraf.conf",
        "Files removed: /etc/sudoers.d/madash-telegraf.",
    ):
        assert line in changes, (line, changes)
    # A value that looks like a changelog's own syntax stays inside its line (wrapped, never a new entry).
    assert "  * Tag role=web -- server (1) unstable; urgency=high added." in text
    assert all(len(line) <= 80 for line in text.splitlines() if line.startswith("  "))
    _lintian(second)

    # A renewed certificate says so; nothing else changed but the files that carry it.
    assert madash("--site", site_dir, "renew", "laptop").code == 0
    assert madash("--site", site_dir, "client", "laptop").code == 0
    third = _newest(site_dir)
    _, path = _changelog(third, tmp_path)
    newest, *_ = _entries(path)
    assert "Certificate renewed: serial " in newest["Changes"]
    assert (
        "Files changed: /usr/share/madash-client-laptop/tls/client.crt, "
        "/var/lib/madash-client-laptop/tls/apt-client.key, /var/lib/madash-client-laptop/tls/client.key."
    ) in newest["Changes"]
    assert "Feature" not in newest["Changes"] and "Interval" not in newest["Changes"]
    assert len(_entries(path)) == 3


def test_the_server_s_changelog_names_a_new_crl_and_changed_settings(
    site_dir: Path, tmp_path: Path, madash: Callable[..., Result]
) -> None:
    site = load_site(site_dir)
    first = bake.bake_package(site, server.server_spec(server.gather(site, NOW)), NOW)
    [entry] = _entries(_changelog(first.path, tmp_path)[1])
    assert "First package for the monitoring server " in entry["Changes"]
    bake_host(site_dir, "laptop")
    assert madash("--site", site_dir, "revoke", "laptop").code == 0
    config = site_dir / "madash.toml"
    config.write_text(config.read_text().replace("door_port = 5086", "door_port = 5443"))
    site = load_site(site_dir)
    second = bake.bake_package(site, server.server_spec(server.gather(site, LATER)), LATER)
    _, path = _changelog(second.path, tmp_path)
    newest, oldest = _entries(path)
    assert "CRL updated: number " in newest["Changes"] and "1 revoked" in newest["Changes"]
    assert "Setting server.door_port changed from 5086 to 5443." in newest["Changes"]
    assert "Files changed: /etc/madash-server/stunnel.conf, /etc/madash-server/tls/crl.pem" in newest["Changes"]
    assert oldest["Timestamp"] < newest["Timestamp"]
    # Dates go up with the versions, as lintian wants, even for two bakes within one second.
    config.write_text(config.read_text().replace("grafana_port = 3000", "grafana_port = 3443"))
    site = load_site(site_dir)
    third = bake.bake_package(site, server.server_spec(server.gather(site, LATER)), LATER)
    _, path = _changelog(third.path, tmp_path)
    newest, middle, _ = _entries(path)
    assert int(newest["Timestamp"]) == int(middle["Timestamp"]) + 1
    files = "/etc/madash-server/compose.yml, /etc/madash-server/stunnel.conf"
    assert newest["Changes"].endswith(
        f"* Setting server.grafana_port changed from 3000 to 3443. * Files changed: {files}."
    )
    _lintian(third.path)


def _spec(**facts: str) -> PackageSpec:
    control = {"Maintainer": "A <a@example.org>", "Depends": "telegraf"}
    return PackageSpec("madash-client-x", control, (FileEntry("/usr/share/x", b"1"),), facts=facts)


def test_history_is_bounded() -> None:
    history = None
    for number in range(changelog.MAX_ENTRIES + 5):
        spec = _spec(**{"interval:": f"{number}s"})
        history = changelog.next_history(history, spec, f"1.{number}", number, f"1.{number - 1}", "x")
    assert history is not None and len(history.entries) == changelog.MAX_ENTRIES
    assert history.entries[0].version == f"1.{changelog.MAX_ENTRIES + 4}"
    many = _spec(**{f"tag:t{n}": "v" for n in range(100)})
    changes = changelog.describe({}, changelog.facts_of(many))
    assert len(changes) == changelog.MAX_CHANGES and changes[-1].startswith("And ")
    files = _spec()
    files = PackageSpec(files.name, files.control, tuple(FileEntry(f"/usr/share/f{n}", b"") for n in range(15)))
    [line] = [c for c in changelog.describe({}, changelog.facts_of(files)) if c.startswith("Files")]
    assert line.endswith(f"and {15 - changelog.MAX_PATHS} more.")


def test_a_damaged_or_hostile_history_is_refused(site_dir: Path, madash: Callable[..., Result]) -> None:
    site = load_site(site_dir)
    bake_host(site_dir, "laptop")
    path = site.paths.history("madash-client-laptop")
    document = json.loads(path.read_text())
    assert document["entries"][0]["changes"][0].startswith("First package for laptop")
    for damage in (
        {**document, "extra": 1},
        {**document, "entries": [{**document["entries"][0], "changes": ["ok\n\n -- Mallory <m@x>  date"]}]},
        {**document, "entries": [{**document["entries"][0], "version": "1:2/../x"}]},
        {**document, "facts": {"feature:docker\x1b": "on"}},
        {**document, "entries": [{**document["entries"][0], "changes": [" "]}]},
        {**document, "entries": document["entries"] * 2},
    ):
        path.write_text(json.dumps(damage))
        with pytest.raises(SiteError, match=r"history/madash-client-laptop\.json is damaged"):
            changelog.load(site, "madash-client-laptop")
    with pytest.raises(ValueError):
        site.paths.history("../builds")
    # The command says so in one line, and the site and dist/ stay as they were.
    before = snapshot(site_dir)
    result = madash("--site", site_dir, "client", "laptop", "--feature", "docker")
    assert_one_line_error(result, 2, "history/madash-client-laptop.json is damaged", "move it aside")
    assert snapshot(site_dir) == before


def test_a_site_without_history_says_the_changes_were_not_recorded(site_dir: Path, tmp_path: Path) -> None:
    """A site baked by a madash-build before history/ has builds.json but no facts to compare with."""
    first = bake_host(site_dir, "laptop")
    load_site(site_dir).paths.history("madash-client-laptop").unlink()
    second = bake_host(site_dir, "laptop", "docker", now=LATER)
    [entry] = _entries(_changelog(second.path, tmp_path)[1])
    assert f"* Changes since {first.version} were not recorded (an earlier madash-build baked it)." in entry["Changes"]
    third = bake_host(site_dir, "laptop", "docker", "sensors", now=LATER + dt.timedelta(hours=1))
    newest, oldest = _entries(_changelog(third.path, tmp_path)[1])
    assert "Feature sensors added." in newest["Changes"] and oldest["Version"] == second.version
