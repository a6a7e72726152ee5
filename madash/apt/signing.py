"""The site repository's OpenPGP signing key, kept in repo-key/ (0700), and signing in-process.

The key is Ed25519, as gpg made it for older madash, in repo-key/signing-key.json
(0600): its creation time (part of its OpenPGP fingerprint) and the PKCS#8 PEM
private key, encrypted with MADASH_REPO_PASSPHRASE when one is set. Signing a suite
is then a fraction of a millisecond in this process (apt/openpgp.py), where gpg cost
two processes per suite. A key made by older madash in gpg's home is moved out once,
by one `gpg --export-secret-keys` (its passphrase on a pipe, never on the command line),
and keeps its fingerprint: the hosts that trust it need not change anything.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from madash import modes
from madash.apt import openpgp
from madash.errors import MadashError, SiteError, ToolError
from madash.fsutil import atomic_write, make_dir
from madash.run import run
from madash.site.config import Site

PASSPHRASE_VARIABLE = "MADASH_REPO_PASSPHRASE"  # noqa: S105 - a variable name
KEY_FILE = "signing-key.json"


@dataclass(frozen=True)
class SigningKey:
    home: Path
    fingerprint: str
    key: openpgp.Key

    def __repr__(self) -> str:
        return f"SigningKey({self.fingerprint})"


def _passphrase() -> bytes:
    return os.environ.get(PASSPHRASE_VARIABLE, "").encode()


def _wrong_passphrase(home: Path) -> MadashError:
    return MadashError(
        "the repository signing key does not unlock with the given passphrase",
        hint=f"set {PASSPHRASE_VARIABLE} to the passphrase of {home}",
    )


def _save(home: Path, key: openpgp.Key, passphrase: bytes) -> None:
    protection: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    pem = key.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection)
    document = {"created": key.created, "key": pem.decode()}
    atomic_write(home / KEY_FILE, (json.dumps(document, indent=2) + "\n").encode(), modes.SECRET)


def _load(home: Path, passphrase: bytes) -> openpgp.Key:
    path = home / KEY_FILE
    try:
        document = json.loads(path.read_bytes())
        created, pem = document["created"], document["key"].encode()
        if not isinstance(created, int) or isinstance(created, bool) or not 0 < created < 2**32:
            raise ValueError("bad creation time")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SiteError(f"{path} is damaged ({exc})", hint="restore it from a backup of the site") from None
    try:
        private = serialization.load_pem_private_key(pem, passphrase or None)
    except TypeError:
        if passphrase:  # an unprotected key signs whatever passphrase is set, as gpg's did
            private = serialization.load_pem_private_key(pem, None)
        else:
            raise _wrong_passphrase(home) from None
    except ValueError:
        raise _wrong_passphrase(home) from None
    if not isinstance(private, Ed25519PrivateKey):
        raise SiteError(f"{path} holds no Ed25519 key", hint="restore it from a backup of the site")
    return openpgp.Key(private, created)


def _from_gpg(home: Path, passphrase: bytes) -> openpgp.Key:
    """Move the key gpg made for older madash out of its home, once (the fingerprint stays)."""
    gpg = ["gpg", "--batch", "--quiet", "--no-tty", "--homedir", str(home)]
    agent_conf = home / "gpg-agent.conf"
    if not agent_conf.exists():  # a wrong passphrase must fail even right after a right one
        atomic_write(agent_conf, b"default-cache-ttl 0\nmax-cache-ttl 0\nallow-loopback-pinentry\n", modes.SECRET)
    try:
        listing = run([*gpg, "--with-colons", "--list-secret-keys"]).stdout.decode()
        fingerprints = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")]
        if not fingerprints:
            raise MadashError(f"gpg's home {home} holds no secret key", hint="move it aside to make a new key")
        export = [*gpg, "--pinentry-mode", "loopback", "--passphrase-fd", "0", "--export-secret-keys", fingerprints[0]]
        try:
            secret = run(export, input=passphrase + b"\n").stdout
        except ToolError as exc:
            if "passphrase" in exc.stderr_tail.lower() or not passphrase:
                raise _wrong_passphrase(home) from exc
            raise
        public = run([*gpg, "--export", fingerprints[0]]).stdout
    finally:
        # The agent would otherwise outlive the command (and hold the homedir's socket).
        if shutil.which("gpgconf"):
            run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)
    try:
        key = openpgp.read_gpg_secret_key(secret, passphrase)
    except openpgp.OpenPGPError as exc:
        if "passphrase" in str(exc):
            raise _wrong_passphrase(home) from None
        raise MadashError(f"cannot move the key out of {home}: {exc}") from None
    if key.fingerprint.hex().upper() != fingerprints[0]:
        raise MadashError(f"gpg exported another key than {fingerprints[0]} from {home}")
    _save(home, key, passphrase)
    # gpg's own export: the very bytes the hosts already hold as their keyring.
    atomic_write(home / "public.gpg", public, modes.SECRET)
    return key


def _made_by_gpg(home: Path) -> bool:
    return (home / "pubring.kbx").exists() or (home / "pubring.gpg").exists()


@contextmanager
def signing_key(site: Site) -> Iterator[SigningKey]:
    """The site's signing key, made if missing (or moved out of gpg's home, once)."""
    home = site.paths.repo_key
    make_dir(home, modes.PRIVATE_DIR)
    passphrase = _passphrase()
    if (home / KEY_FILE).exists():
        key = _load(home, passphrase)
    elif _made_by_gpg(home):
        key = _from_gpg(home, passphrase)
    else:
        key = openpgp.Key(Ed25519PrivateKey.generate(), int(time.time()))
        _save(home, key, passphrase)
    fingerprint = key.fingerprint.hex().upper()
    public = home / "public.gpg"
    if not public.exists():
        uid = f"{site.config.site.name} madash repository <{_address(site)}>"
        atomic_write(public, key.public_key(uid), modes.SECRET)
    remembered = home / "fingerprint"
    if not remembered.exists() or remembered.read_text().strip() != fingerprint:
        atomic_write(remembered, (fingerprint + "\n").encode(), modes.SECRET)
    _owner_only(home)
    yield SigningKey(home, fingerprint, key)


def _owner_only(home: Path) -> None:
    """gpg made its keyrings by the umask (0644 in homes made by older madash): the owner's only."""
    for path in home.rglob("*"):
        info = path.lstat()
        if not stat.S_ISLNK(info.st_mode) and info.st_mode & 0o077:
            os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700)


def _address(site: Site) -> str:
    maintainer = site.config.site.maintainer
    return maintainer[maintainer.rfind("<") + 1 : maintainer.rfind(">")]


def sign_release(key: SigningKey, release: bytes) -> tuple[bytes, bytes]:
    """(InRelease, Release.gpg) for the given Release text."""
    return openpgp.clearsign(key.key, release), openpgp.detached_signature(key.key, release)


def site_public_key(site: Site) -> bytes:
    """The repository's public key for client packages; the key is made on first use.

    Kept beside the key as public.gpg, so that baking a thousand hosts reads one file.
    """
    cached = site.paths.repo_key / "public.gpg"
    if not cached.exists():
        with signing_key(site):
            pass
    return cached.read_bytes()
