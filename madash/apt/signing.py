"""The site repository's OpenPGP signing key, kept with gpg in repo-key/ (0700).

Made on first use (ed25519); its passphrase, if any, comes from
MADASH_REPO_PASSPHRASE and reaches gpg on a pipe, never on its command line.
Every gpg call goes through madash.run; the agent gpg starts is stopped again
so that no process outlives a command.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from madash import modes
from madash.errors import MadashError, ToolError
from madash.fsutil import atomic_write, make_dir
from madash.run import run
from madash.site.config import Site

PASSPHRASE_VARIABLE = "MADASH_REPO_PASSPHRASE"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class SigningKey:
    home: Path
    fingerprint: str
    passphrase: bytes

    def __repr__(self) -> str:
        return f"SigningKey({self.fingerprint})"


def _passphrase() -> bytes:
    return os.environ.get(PASSPHRASE_VARIABLE, "").encode()


def _gpg(home: Path, args: Sequence[str], *, input: bytes | None = None) -> bytes:  # noqa: A002
    return run(["gpg", "--batch", "--quiet", "--no-tty", "--homedir", str(home), *args], input=input).stdout


def _fingerprint(home: Path) -> str | None:
    """The key's fingerprint, remembered beside it: asking gpg costs a process per publish."""
    remembered = home / "fingerprint"
    if remembered.exists():
        return remembered.read_text().strip()
    listing = _gpg(home, ["--with-colons", "--list-secret-keys"]).decode()
    fingerprints = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")]
    if not fingerprints:
        return None
    atomic_write(remembered, (fingerprints[0] + "\n").encode(), modes.SECRET)
    return fingerprints[0]


@contextmanager
def signing_key(site: Site) -> Iterator[SigningKey]:
    """The site's signing key, made if missing; gpg's agent is stopped afterwards."""
    home = site.paths.repo_key
    make_dir(home, modes.PRIVATE_DIR)
    # No passphrase cache: a wrong passphrase must fail even right after a right one.
    agent_conf = home / "gpg-agent.conf"
    if not agent_conf.exists():
        atomic_write(agent_conf, b"default-cache-ttl 0\nmax-cache-ttl 0\nallow-loopback-pinentry\n", modes.SECRET)
    try:
        fingerprint = _fingerprint(home)
        passphrase = _passphrase()
        if fingerprint is None:
            uid = f"{site.config.site.name} madash repository <{_address(site)}>"
            _gpg(
                home,
                [
                    "--pinentry-mode",
                    "loopback",
                    "--passphrase-fd",
                    "0",
                    "--quick-gen-key",
                    uid,
                    "ed25519",
                    "sign",
                    "never",
                ],
                input=passphrase + b"\n",
            )
            fingerprint = _fingerprint(home)
            if fingerprint is None:
                raise MadashError(f"gpg made no key in {home}")
        _owner_only(home)
        yield SigningKey(home, fingerprint, passphrase)
    finally:
        # The agent would otherwise outlive the command (and hold the homedir's socket).
        if shutil.which("gpgconf"):
            run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)


def _owner_only(home: Path) -> None:
    """gpg makes its keyrings by the umask (0644 in homes made by older madash): the owner's only."""
    for path in home.rglob("*"):
        info = path.lstat()
        if not stat.S_ISLNK(info.st_mode) and info.st_mode & 0o077:
            os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700)


def _address(site: Site) -> str:
    maintainer = site.config.site.maintainer
    return maintainer[maintainer.rfind("<") + 1 : maintainer.rfind(">")]


def _sign_args(key: SigningKey) -> list[str]:
    return [
        "--pinentry-mode",
        "loopback",
        "--passphrase-fd",
        "0",
        "--local-user",
        key.fingerprint,
        "--digest-algo",
        "SHA512",
    ]


def sign_release(key: SigningKey, release: bytes) -> tuple[bytes, bytes]:
    """(InRelease, Release.gpg) for the given Release text."""
    try:
        inrelease = _gpg(
            key.home, [*_sign_args(key), "--clearsign", "--output", "-"], input=key.passphrase + b"\n" + release
        )
        detached = _gpg(
            key.home,
            [*_sign_args(key), "--detach-sign", "--armor", "--output", "-"],
            input=key.passphrase + b"\n" + release,
        )
    except ToolError as exc:
        if "passphrase" in exc.stderr_tail.lower():
            raise MadashError(
                "the repository signing key does not unlock with the given passphrase",
                hint=f"set {PASSPHRASE_VARIABLE} to the passphrase of {key.home}",
            ) from exc
        raise
    return inrelease, detached


def public_key(key: SigningKey) -> bytes:
    """The binary public key, as apt's Signed-By wants it."""
    return _gpg(key.home, ["--export", key.fingerprint])


def export_public_key(key: SigningKey, path: Path) -> None:
    atomic_write(path, public_key(key), 0o600)  # the published copy is repo/'s keyring


def site_public_key(site: Site) -> bytes:
    """The repository's public key for client packages; the key is made on first use.

    Kept beside the key as public.gpg, so that baking a thousand hosts runs gpg once.
    """
    cached = site.paths.repo_key / "public.gpg"
    if not cached.exists():
        with signing_key(site) as key:
            export_public_key(key, cached)
    return cached.read_bytes()
