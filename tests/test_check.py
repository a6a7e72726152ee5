"""`madash-build check`: every condition that needs the admin is found on a site that has it, nothing on a clean one."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from madash.apt import publish as repo
from madash.check import check
from madash.packages import bake, server
from madash.pki import store as certstore
from madash.site.config import load_site
from tests.conftest import NOW, Result, assert_one_line_error, bake_host, set_repo

Madash = Callable[..., Result]


def bake_server(site_dir: Path, now: dt.datetime = NOW) -> None:
    site = load_site(site_dir)
    bake.bake_package(site, server.server_spec(server.gather(site, now)), now)


def findings(site_dir: Path, now: dt.datetime = NOW) -> dict[str, str]:
    return {f.what: f.subject for f in check(load_site(site_dir), now)}


@pytest.fixture
def clean(site_dir: Path) -> Path:
    """A site with a host and the server baked and nothing left to do."""
    bake_host(site_dir, "laptop", "smart")
    bake_server(site_dir)
    return site_dir


def test_a_clean_site_needs_nothing(clean: Path, madash: Madash) -> None:
    assert findings(clean) == {}
    result = madash("--site", clean, "check")
    assert (result.code, result.out) == (0, "nothing needs doing\n")
    as_json = madash("--site", clean, "check", "--json")
    assert (as_json.code, json.loads(as_json.out)) == (0, [])


def test_a_new_site_has_no_server_package(site_dir: Path) -> None:
    assert findings(site_dir) == {"server-not-baked": "server"}


def test_readable_secrets_and_site(clean: Path, madash: Madash) -> None:
    (clean / "secrets.toml").chmod(0o644)
    (clean / "pki" / "clients" / "laptop.key").chmod(0o640)
    clean.chmod(0o755)
    found = check(load_site(clean), NOW)
    assert {(f.what, Path(f.subject).name) for f in found} == {
        ("site-readable", clean.name), ("secret-readable", "secrets.toml"), ("secret-readable", "laptop.key"),
    }  # fmt: skip
    assert {f.fix for f in found} >= {f"chmod 600 {clean / 'secrets.toml'}", f"chmod 700 {clean}"}
    result = madash("--site", clean, "check", "--json")
    assert result.code == 1 and {f["what"] for f in json.loads(result.out)} == {"site-readable", "secret-readable"}


def test_expiring_certificates_and_crl(clean: Path) -> None:
    later = NOW + dt.timedelta(days=170)  # the CRL's 180 days are within the 30-day warning
    assert findings(clean, later)["crl-expiring"] == "crl"
    much_later = NOW + dt.timedelta(days=830)
    found = findings(clean, much_later)
    assert found["host-certificate-expired"] == "laptop"
    assert found["server-certificate-expired"] == "server"
    assert found["crl-expired"] == "crl"


def test_hosts_never_baked_and_renewals_not_baked(clean: Path) -> None:
    config = clean / "madash.toml"
    config.write_text(config.read_text() + '\n[hosts.desktop]\nfeatures = ["sensors"]\n')
    assert findings(clean) == {"host-not-baked": "desktop"}
    certstore.renew_host(load_site(clean), "laptop", lambda: None, NOW)
    # A renewal revokes the old certificate: the door must learn it from a new server package too.
    assert findings(clean) == {
        "host-not-baked": "desktop", "host-renewal-not-baked": "laptop", "crl-not-baked": "server",
    }  # fmt: skip
    bake_host(clean, "laptop", "smart", now=NOW + dt.timedelta(seconds=1))
    bake_host(clean, "desktop", "sensors")
    bake_server(clean, NOW + dt.timedelta(seconds=1))
    assert findings(clean) == {}


def test_a_revocation_not_in_the_server_package(clean: Path) -> None:
    certstore.revoke_host(load_site(clean), "laptop", lambda: None, NOW)
    # The revoked host's own package is no longer a concern; the door's CRL is.
    assert findings(clean) == {"crl-not-baked": "server"}
    bake_server(clean, NOW + dt.timedelta(seconds=1))
    assert findings(clean) == {}


def test_baked_but_not_published_and_signatures_expiring(clean: Path) -> None:
    set_repo(clean, url="file:///srv/madash/repo", valid_days=10)
    bake_host(clean, "laptop", "smart", now=NOW + dt.timedelta(seconds=1))  # with the apt source now
    repo.publish(load_site(clean), NOW)
    assert findings(clean) == {}
    state = clean / ".madash-repo-state.json"
    os.utime(state, (state.stat().st_mtime - 60,) * 2)  # the publish, a minute before the next bake
    bake_host(clean, "laptop", "smart", "sensors", now=NOW + dt.timedelta(seconds=2))
    assert findings(clean) == {"not-published": "repo"}
    repo.publish(load_site(clean), NOW)
    assert findings(clean, NOW + dt.timedelta(days=9))["repo-signature-expiring"] == "repo"


def test_a_repository_url_without_a_key(clean: Path) -> None:
    shutil.rmtree(clean / "repo-key")  # made by the bake, for the server's repository; lost since
    set_repo(clean, url="file:///srv/madash/repo")
    found = findings(clean)
    assert found["repo-key-missing"].endswith("public.gpg")


def test_bad_input_is_exit_2(tmp_path: Path, madash: Madash) -> None:
    result = madash("--site", tmp_path / "nowhere", "check")
    assert_one_line_error(result, 2)


def test_list_shows_the_ca_fingerprint_as_openssl_computes_it(site_dir: Path, madash: Madash) -> None:
    openssl = subprocess.run(
        ["openssl", "x509", "-in", site_dir / "pki" / "ca.crt", "-noout", "-fingerprint", "-sha256"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    expected = openssl.stdout.strip().split("=", 1)[1]
    assert f"CA SHA-256 fingerprint: {expected}\n" in madash("--site", site_dir, "list").out
    assert json.loads(madash("--site", site_dir, "list", "--json").out)["ca_sha256"] == expected
