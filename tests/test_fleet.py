"""Baking a fleet: every host, in parallel, with one host's failure not stopping the others."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from madash.apt import signing
from madash.apt.identity import identity as apt_identity
from madash.deb.reader import read_deb
from madash.packages import client, fleet
from madash.packages.aptsource import KEYRING
from madash.pki import store as certstore
from madash.pki.index import load_index
from madash.site.config import load_site
from madash.site.inventory import update_host
from tests.conftest import NOW, run_cli, set_repo


def add_hosts(site_dir: Path, count: int) -> list[str]:
    site = load_site(site_dir)
    features = [["smart"], ["docker", "internet"], ["vm"], []]
    hosts = [f"h{i:03d}" for i in range(count)]
    for i, host in enumerate(hosts):
        site = update_host(site, host, features=features[i % len(features)])
    return hosts


def test_parallel_fleet_bake_equals_one_by_one(site_dir: Path, tmp_path: Path) -> None:
    hosts = add_hosts(site_dir, 12)
    seen: list[str] = []
    items = fleet.bake_all(
        load_site(site_dir),
        apt=apt_identity(load_site(site_dir)),
        passphrase=lambda: None,
        now=NOW,
        jobs=3,
        report=lambda i: seen.append(i.host),
    )
    assert sorted(seen) == hosts and [i.host for i in items] == hosts
    assert all(i.result is not None and i.result.changed for i in items)
    index = load_index(load_site(site_dir).paths)
    assert index.hosts() == hosts and index.crl_number == 2, "one batch of certificates, one CRL"
    builds = json.loads((site_dir / "builds.json").read_text())
    assert sorted(builds) == [f"madash-client-{h}" for h in hosts]

    # The same bake one host at a time gives the same bytes.
    parallel = {i.host: i.result.path.read_bytes() for i in items if i.result}
    for item in items:
        assert item.result is not None
        item.result.path.unlink()
    serial = fleet.bake_all(
        load_site(site_dir), apt=apt_identity(load_site(site_dir)), passphrase=lambda: None, now=NOW, jobs=1
    )
    assert {i.host: i.result.path.read_bytes() for i in serial if i.result} == parallel


def test_unchanged_hosts_are_not_rebuilt_and_failures_do_not_stop_the_rest(site_dir: Path) -> None:
    add_hosts(site_dir, 6)
    first = fleet.bake_all(
        load_site(site_dir), apt=apt_identity(load_site(site_dir)), passphrase=lambda: None, now=NOW, jobs=2
    )
    stamps = {i.host: i.result.path.stat().st_mtime_ns for i in first if i.result}
    certstore.revoke_host(load_site(site_dir), "h002", lambda: None, NOW)
    site = update_host(load_site(site_dir), "h004", features=["sensors"])
    later = NOW + dt.timedelta(hours=1)
    again = {
        i.host: i for i in fleet.bake_all(site, apt=apt_identity(site), passphrase=lambda: None, now=later, jobs=2)
    }
    assert again["h002"].result is None and "revoked" in (again["h002"].error or "")
    changed = {h for h, i in again.items() if i.result and i.result.changed}
    assert changed == {"h004"}
    for host in ("h000", "h001", "h003", "h005"):
        result = again[host].result
        assert result is not None and result.path.stat().st_mtime_ns == stamps[host], f"{host} was rebuilt"


def test_rebake_with_nothing_changed_renders_nothing(site_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add_hosts(site_dir, 4)
    fleet.bake_all(load_site(site_dir), apt=apt_identity(load_site(site_dir)), passphrase=lambda: None, now=NOW, jobs=1)

    def must_not_render(*args: object, **kwargs: object) -> None:
        raise AssertionError("an unchanged host was gathered and rendered again")

    monkeypatch.setattr(client, "gather", must_not_render)
    items = fleet.bake_all(
        load_site(site_dir), apt=apt_identity(load_site(site_dir)), passphrase=lambda: None, now=NOW, jobs=1
    )
    assert all(i.result is not None and not i.result.changed for i in items)
    # Any input that changes takes the full path again: here a snippet for one host.
    (site_dir / "snippets" / "h001").mkdir(parents=True)
    (site_dir / "snippets" / "h001" / "extra.conf").write_text("[[inputs.file]]\n  files = []\n")
    with pytest.raises(AssertionError, match="gathered and rendered again"):
        fleet.bake_all(
            load_site(site_dir), apt=apt_identity(load_site(site_dir)), passphrase=lambda: None, now=NOW, jobs=1
        )


def test_eight_workers_on_a_new_site_with_a_repository_make_one_key(site_dir: Path) -> None:
    """The repository's identity is made once, under the lock, before any worker starts."""
    set_repo(site_dir, url="https://monitor.example.org/madash")
    add_hosts(site_dir, 16)
    result = run_cli("--site", site_dir, "client", "--all", "--jobs", "8")
    assert result.returncode == 0, result.stderr
    assert "16 hosts: 16 changed, 0 unchanged, 0 failed" in result.stdout
    # One key: every package carries the same keyring, and it is the key's.
    keyrings = {read_deb(deb).members[KEYRING].data for deb in (site_dir / "dist").glob("*.deb")}
    assert keyrings == {(site_dir / "repo-key" / "public.gpg").read_bytes()}
    fingerprint = (site_dir / "repo-key" / "fingerprint").read_text().strip()
    with signing.signing_key(load_site(site_dir)) as key:
        assert key.fingerprint == fingerprint
