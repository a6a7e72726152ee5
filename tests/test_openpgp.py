"""In-process OpenPGP signing (apt/openpgp.py, apt/signing.py), with gpgv and gpg as the oracles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from madash.apt import openpgp, signing
from madash.errors import MadashError
from madash.site.config import load_site
from tests.conftest import Result, assert_one_line_error, bake_host, set_repo

Madash = Callable[..., Result]

TEXTS = [
    b"Origin: t\nLabel: t\nSuite: host-a\n",
    b"no final newline",
    b"- a dash line\n--- and another\nFrom the start\n",
    b"trailing blanks  \t\nare not signed \n",
    b"\n\nblank lines\n\n",
    b" 0123456789abcdef 1234 main/binary-amd64/Packages\n" * 2000,  # a long Release
]


def gpgv(keyring: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["gpgv", "--keyring", str(keyring), *map(str, files)], capture_output=True, text=True)


def gpg(home: Path, *args: str, input: bytes | None = None) -> bytes:  # noqa: A002
    command = ["gpg", "--batch", "--quiet", "--homedir", str(home), *args]
    return subprocess.run(command, input=input, capture_output=True, check=True).stdout


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A gpg home of the test's own: gpg starts an agent for it, which must not outlive the test."""
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    yield path
    subprocess.run(["gpgconf", "--homedir", str(path), "--kill", "all"], check=False)


@pytest.fixture
def key(tmp_path: Path) -> tuple[openpgp.Key, Path]:
    made = openpgp.Key(Ed25519PrivateKey.generate(), int(time.time()) - 3600)
    keyring = tmp_path / "key.gpg"
    keyring.write_bytes(made.public_key("t madash repository <t@example.org>"))
    return made, keyring


@pytest.mark.parametrize("text", TEXTS)
def test_gpgv_accepts_both_signatures(text: bytes, key: tuple[openpgp.Key, Path], tmp_path: Path, home: Path) -> None:
    made, keyring = key
    (tmp_path / "Release").write_bytes(text)
    (tmp_path / "InRelease").write_bytes(openpgp.clearsign(made, text))
    (tmp_path / "Release.gpg").write_bytes(openpgp.detached_signature(made, text))
    clear = gpgv(keyring, tmp_path / "InRelease")
    assert clear.returncode == 0 and "Good signature" in clear.stderr, clear.stderr
    detached = gpgv(keyring, tmp_path / "Release.gpg", tmp_path / "Release")
    assert detached.returncode == 0 and made.fingerprint.hex().upper() in detached.stderr, detached.stderr
    # What gpg reads back out of the clearsigned file is the text (up to blanks at line ends).
    gpg(home, "--import", str(keyring))
    out = gpg(home, "--decrypt", str(tmp_path / "InRelease"))
    assert out.rstrip(b"\n").split(b"\n") == [line.rstrip(b" \t") for line in text.rstrip(b"\n").split(b"\n")]


def test_a_changed_text_or_another_key_is_refused(key: tuple[openpgp.Key, Path], tmp_path: Path) -> None:
    made, keyring = key
    signed = openpgp.clearsign(made, b"Origin: t\nSuite: a\n")
    (tmp_path / "InRelease").write_bytes(signed.replace(b"Suite: a", b"Suite: b"))
    assert gpgv(keyring, tmp_path / "InRelease").returncode != 0
    other = openpgp.Key(Ed25519PrivateKey.generate(), int(time.time()))
    (tmp_path / "Other").write_bytes(openpgp.clearsign(other, b"Origin: t\n"))
    assert gpgv(keyring, tmp_path / "Other").returncode != 0


def test_the_public_key_is_what_gpg_reads(key: tuple[openpgp.Key, Path], home: Path) -> None:
    made, keyring = key
    gpg(home, "--import", str(keyring))
    listing = gpg(home, "--with-colons", "--check-sigs").decode()
    assert f"fpr:::::::::{made.fingerprint.hex().upper()}:" in listing
    assert "pub:-:255:22:" in listing and ":scSC:" in listing  # ed25519, sign and certify
    assert "sig:!:" in listing  # the self-signature checks
    assert made.public_key("t madash repository <t@example.org>") == keyring.read_bytes()  # reproducible


def legacy_home(site_dir: Path, passphrase: str) -> str:
    """repo-key/ as older madash made it: gpg's home with an ed25519 key."""
    home = site_dir / "repo-key"
    home.mkdir(mode=0o700)
    args = ["--pinentry-mode", "loopback", "--passphrase-fd", "0", "--quick-gen-key", "old <old@example.org>"]
    gpg(home, *args, "ed25519", "sign", "never", input=passphrase.encode() + b"\n")
    listing = gpg(home, "--with-colons", "--list-secret-keys").decode()
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))


@pytest.mark.parametrize("passphrase", ["", "old secret"])
def test_a_key_made_by_gpg_moves_out_with_its_fingerprint(
    passphrase: str, site_dir: Path, madash: Madash, monkeypatch: pytest.MonkeyPatch
) -> None:
    fingerprint = legacy_home(site_dir, passphrase)
    old_public = gpg(site_dir / "repo-key", "--export", fingerprint)
    monkeypatch.setenv(signing.PASSPHRASE_VARIABLE, passphrase)
    bake_host(site_dir, "laptop")
    assert madash("--site", site_dir, "repo").code == 0
    home = site_dir / "repo-key"
    assert (home / "fingerprint").read_text().strip() == fingerprint
    assert (home / "public.gpg").read_bytes() == old_public  # the hosts' keyring stays as it was
    assert (home / signing.KEY_FILE).stat().st_mode & 0o777 == 0o600
    pem = json.loads((home / signing.KEY_FILE).read_text())["key"]
    assert ("ENCRYPTED" in pem) == bool(passphrase)
    inrelease = site_dir / "repo" / "dists" / "host-laptop" / "InRelease"
    assert gpgv(site_dir / "repo" / "madash-archive-keyring.gpg", inrelease).returncode == 0


def test_moving_a_gpg_key_with_a_wrong_passphrase_changes_nothing(
    site_dir: Path, madash: Madash, monkeypatch: pytest.MonkeyPatch
) -> None:
    legacy_home(site_dir, "old secret")
    set_repo(site_dir, serve=False)  # no repository URL: the bake leaves the key to `repo`, the command tested
    bake_host(site_dir, "laptop")
    monkeypatch.setenv(signing.PASSPHRASE_VARIABLE, "wrong")
    assert_one_line_error(madash("--site", site_dir, "repo"), 1, "does not unlock", signing.PASSPHRASE_VARIABLE)
    assert not (site_dir / "repo-key" / signing.KEY_FILE).exists()
    assert not (site_dir / "repo" / "dists").exists()


def test_moving_a_gpg_key_without_gpg_names_the_package(site_dir: Path) -> None:
    legacy_home(site_dir, "")
    set_repo(site_dir, serve=False)  # no repository URL: the bake leaves the key to `repo`, the command tested
    bake_host(site_dir, "laptop")
    result = subprocess.run(
        [sys.executable, "-m", "madash.cli", "--site", str(site_dir), "repo"],
        capture_output=True, text=True, env={**os.environ, "PATH": "/nonexistent"}, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "madash-build: error: gpg is not installed",
        "madash-build: hint: install it with: apt-get install gpg",
    ]


def test_a_damaged_key_file_is_named(site_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = load_site(site_dir)
    with signing.signing_key(site):
        pass
    (site_dir / "repo-key" / signing.KEY_FILE).write_text('{"created": "soon"}')
    with pytest.raises(MadashError, match=r"signing-key\.json is damaged"), signing.signing_key(site):
        pass


def test_a_new_key_is_protected_by_the_passphrase(site_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(signing.PASSPHRASE_VARIABLE, "new secret")
    site = load_site(site_dir)
    with signing.signing_key(site) as made:
        inrelease, _ = signing.sign_release(made, b"Origin: t\n")
    home = site_dir / "repo-key"
    assert home.stat().st_mode & 0o777 == 0o700
    assert all(path.stat().st_mode & 0o077 == 0 for path in home.iterdir())
    assert b"new secret" not in (home / signing.KEY_FILE).read_bytes()
    assert "ENCRYPTED" in json.loads((home / signing.KEY_FILE).read_text())["key"]
    (home / "InRelease").write_bytes(inrelease)
    assert gpgv(home / "public.gpg", home / "InRelease").returncode == 0
    monkeypatch.setenv(signing.PASSPHRASE_VARIABLE, "")
    with pytest.raises(MadashError, match="does not unlock"), signing.signing_key(site):
        pass
