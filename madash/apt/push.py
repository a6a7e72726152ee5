"""`madash-build repo --push DEST`: the published repository to another directory or machine, with rsync.

rsync over ssh, with the admin's own ssh configuration, keys and agent (and
$RSYNC_RSH when it is set), in three runs ordered so that a host reading DEST at
any moment, even while a push is killed, sees each suite's old state or its new
one, never a Release that does not match its Packages:

1. the pool's packages, the new generations (.suites/SUITE/GEN) and the keyring:
   nothing a client reads names them yet, so a copy stopped halfway is invisible;
2. dists/: one symlink per suite, which rsync replaces by renaming a new link over
   the old one, so each suite switches from one complete generation to the next at
   once. A new generation carries its predecessor's indexes by hash
   (Acquire-By-Hash), so a client that read the old InRelease a moment before still
   finds the Packages it names;
3. with --delete: what no suite names any more (older packages, old generations,
   suites gone) and what an interrupted copy left (rsync's dot-named temporaries).

Only the repository's public part travels, by an allow-list: never sources/ (every
host's name and apt identity), nor a dot file but .suites/ (the generations
dists/ points into; a web server serving DEST must refuse it, and does so for
every dot file), nor the state kept beside repo/. New files arrive 0640 and new
directories 0750, whatever their modes in repo/: the pool holds private keys, and
the web server reads through the group, which they inherit from a set-group-ID DEST
(rsync keeps that bit on the directories it makes there). DEST itself and what is
already there keep their modes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from madash import run
from madash.apt.publish import KEYRING_NAME, published_suites
from madash.errors import MadashError, ToolError, UsageError
from madash.fsutil import site_lock
from madash.packages.aptsource import SERVER_SUITE
from madash.site.config import Site
from madash.site.destination import Destination

Report = Callable[[str], None]
GENERATIONS = "/.suites/"
# What DEST may hold besides the pushed part: an earlier push's leftovers, which the last run deletes.
_OURS = {"dists", "pool", ".suites", KEYRING_NAME, "sources"}
_LEFTOVER_RE = re.compile(r"\..+\.[A-Za-z0-9]{6}")  # rsync's temporary names: .NAME.XXXXXX
# rsync's own words for a DEST that is not there yet, not a shell's "rsync: No such file or directory".
_MISSING_RE = re.compile(r'(change_dir|link_stat)(#[0-9]+)? ".*" failed: No such file or directory')
# Modes on DEST for new files and directories; existing ones (DEST itself first) are left as they are.
_OPTIONS = [
    "--mkpath", "--recursive", "--links", "--hard-links", "--times", "--omit-dir-times",
    "--no-perms", "--chmod=D0750,F0640", "--out-format=%i %n",
]  # fmt: skip
# The server's own suite holds madash-server, with every password of the site and the server key: no host
# names it and the server installs its package by file, so it never travels to where a web server (and
# its user, who can read what it serves) could reach it; the last run deletes one an earlier push left.
_SERVER = [f"--exclude=/{d}/{SERVER_SUITE}" for d in ("dists", "pool", GENERATIONS.strip("/"))]
_PUBLIC = [*_SERVER, f"--include={GENERATIONS}", "--include=/pool/", f"--include=/{KEYRING_NAME}"]
_PRIVATE = ["--exclude=.*", "--exclude=/*"]  # after the includes: rsync applies the first rule that matches


@dataclass(frozen=True)
class PushResult:
    copied: int  # files copied in the first run
    switched: list[str]  # suites whose dists/ link changed or went
    removed: int  # files and directories the last run deleted


def _environment() -> dict[str, str]:
    """The admin's ssh agent and rsync's remote shell: ssh needs them, run.py passes nothing it is not given."""
    return {name: os.environ[name] for name in ("SSH_AUTH_SOCK", "RSYNC_RSH") if os.environ.get(name)}


def _remote_hint(destination: Destination) -> str:
    return (
        f"check that 'ssh {destination.host}' logs in without a question, "
        "and that rsync is installed there (apt-get install rsync)"
    )


def _rsync(arguments: list[str], destination: Destination) -> list[str]:
    """One rsync run; its itemized changes, one per line."""
    try:
        # 027: what --chmod says for the group (the web server's) survives; others get nothing.
        result = run.run(["rsync", *arguments], env=_environment(), umask=0o027)
    except ToolError as exc:
        if not destination.remote:
            raise
        raise ToolError(
            f"pushing to {destination.target} failed: {exc.stderr_tail or exc.message}",
            command=exc.command,
            hint=_remote_hint(destination),
        ) from None
    return result.stdout.decode("utf-8", "replace").splitlines()


def _existing(destination: Destination) -> set[str]:
    """The names at the top of DEST; none when it does not exist yet (rsync makes it)."""
    try:
        result = run.run(["rsync", "--list-only", "--no-motd", destination.target], env=_environment())
    except ToolError as exc:
        if _MISSING_RE.search(exc.stderr_tail):
            return set()
        raise ToolError(
            f"cannot read {destination.target}: {exc.stderr_tail or exc.message}",
            command=exc.command,
            hint=_remote_hint(destination) if destination.remote else None,
        ) from None
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    # "drwxr-x---   4,096 2026/12/02 14:20:26 NAME": the name is what follows the time.
    return {line.split(None, 4)[4] for line in lines if len(line.split(None, 4)) == 5} - {"."}


def _check_ours(destination: Destination, names: set[str]) -> None:
    """Refuse a DEST that holds what a push would delete: a wrong path (such as /var/lib/madash) loses nothing."""
    foreign = sorted(name for name in names if name not in _OURS and not _LEFTOVER_RE.fullmatch(name))
    if foreign:
        listed = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise UsageError(
            f"{destination.target} holds files that are not a madash repository's ({listed})",
            hint="push to an empty directory or to one an earlier push made: the push deletes what it did not copy",
        )


def push(site: Site, destination: Destination, report: Report) -> PushResult:
    """Copy repo/ to DEST in the three runs above; under the site lock, so that no publish changes it meanwhile."""
    run.require("rsync")
    if destination.remote and "RSYNC_RSH" not in _environment():
        run.require("ssh")
    with site_lock(site.paths.root):
        source = f"{site.paths.repo}/"
        if not published_suites(site.paths.repo):
            raise MadashError(f"{site.paths.repo} holds no published suite yet", hint="bake packages into dist/ first")
        _check_ours(destination, _existing(destination))
        report(f"copying packages and new indexes to {destination.target}")
        first = _rsync([*_OPTIONS, "--exclude=/dists/", *_PUBLIC, *_PRIVATE, source, destination.target], destination)
        # Itemized as received ('>f') when DEST is local, as sent ('<f') when it is remote.
        copied = sum(1 for line in first if line.startswith((">f", "<f")))
        report(f"files copied: {copied}; switching the suites")
        second = _rsync(
            [*_OPTIONS, "--delete", *_SERVER, "--include=/dists/", *_PRIVATE, source, destination.target], destination
        )
        switched = sorted(
            line.split(None, 1)[1].removeprefix("dists/")
            for line in second
            if line.startswith(("cL", "*deleting")) and line.split(None, 1)[1].startswith("dists/")
        )
        report(f"suites switched: {len(switched)}; removing what no suite names any more")
        third = _rsync(
            [*_OPTIONS, "--delete", "--delete-excluded", "--include=/dists/", *_PUBLIC, *_PRIVATE, source,
             destination.target],
            destination,
        )  # fmt: skip
        removed = sum(1 for line in third if line.startswith("*deleting"))
        return PushResult(copied, switched, removed)
