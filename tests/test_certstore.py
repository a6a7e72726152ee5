"""The PKI on disk: the index, concurrency, and damage."""

from __future__ import annotations

import multiprocessing
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from madash.errors import PKIError
from madash.pki import store as certstore
from madash.pki.index import index_to_json, load_index
from madash.site.config import load_site
from tests.conftest import NOW, snapshot


def _issue(args: tuple[str, str]) -> int:
    root, host = args
    return certstore.issue_host(load_site(Path(root)), host, lambda: None, NOW).serial


def test_parallel_processes_never_corrupt_the_index(site_dir: Path) -> None:
    hosts = [f"host{i:02d}" for i in range(16)]
    # Separate processes, as separate madash-build runs would be; only the site lock orders them.
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        serials = pool.map(_issue, [(str(site_dir), host) for host in hosts])
    assert len(set(serials)) == len(hosts)
    index = load_index(load_site(site_dir).paths)
    assert index.hosts() == hosts
    assert {e.serial for e in index.entries if e.kind == "client"} == set(serials)
    # One CRL rewrite per issue, each under the lock: the CRL number counts them all.
    assert index.crl_number == 1 + len(hosts)
    crl = x509.load_pem_x509_crl((site_dir / "pki" / "crl.pem").read_bytes())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == index.crl_number
    for host in hosts:
        cert = x509.load_pem_x509_certificate((site_dir / "pki" / "clients" / f"{host}.crt").read_bytes())
        assert cert.serial_number in serials
    assert not list(site_dir.rglob("*.tmp")), "temporary files left behind"


@pytest.mark.parametrize("name", ["ca.key", "ca.crt"])
def test_truncated_ca_files_are_refused_without_change(site_dir: Path, name: str) -> None:
    path = site_dir / "pki" / name
    path.write_bytes(path.read_bytes()[:100])
    before = snapshot(site_dir)
    with pytest.raises(PKIError, match="truncated or damaged"):
        certstore.issue_host(load_site(site_dir), "laptop", lambda: None, NOW)
    assert snapshot(site_dir) == before


def test_key_of_another_ca_is_refused(site_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(other)],
        check=True,
        capture_output=True,
    )
    (site_dir / "pki" / "ca.key").write_bytes(other.read_bytes())
    with pytest.raises(PKIError, match=r"does not belong to pki/ca\.crt"):
        certstore.issue_host(load_site(site_dir), "laptop", lambda: None, NOW)


def test_damaged_index(site_dir: Path) -> None:
    (site_dir / "pki" / "index.json").write_text("{")
    with pytest.raises(PKIError, match=r"index\.json is damaged"):
        certstore.issue_host(load_site(site_dir), "laptop", lambda: None, NOW)


def test_index_round_trips(site_dir: Path) -> None:
    paths = load_site(site_dir).paths
    certstore.issue_host(load_site(site_dir), "laptop", lambda: None, NOW)
    index = load_index(paths)
    assert index_to_json(index) == (paths.pki / "index.json").read_bytes()
    kinds = [e.kind for e in index.entries]
    assert kinds == ["ca", "server", "client"]
