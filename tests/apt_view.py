"""What real apt sees in a copy of the site repository, through file:, with every check on.

apt-get runs on the test machine itself with a private state, cache and source list in the
test's directory (so it neither reads nor changes the machine's own), Acquire::Check-Valid-Until
and Acquire::Check-Date turned on (these machines turn them off in apt.conf.d), the signature
checked with the site's keyring (taken from the site, not from the copy under test), and each
package downloaded, which checks its size and hashes against the Packages index.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from pathlib import Path

from debian.deb822 import Deb822

CHECKS = ["-o", "Acquire::Check-Valid-Until=true", "-o", "Acquire::Check-Date=true"]


class AptRefused(AssertionError):
    pass


def _options(work: Path) -> list[str]:
    return [
        "-o", f"Dir::Etc::SourceList={work / 'sources.list'}", "-o", f"Dir::Etc::SourceParts={work / 'sources.d'}",
        "-o", f"Dir::State={work / 'state'}", "-o", f"Dir::State::status={work / 'status'}",
        "-o", f"Dir::Cache={work / 'cache'}", "-o", "Debug::NoLocking=true",
        # The copy is root's 0640 files, as on a server whose web server reads them by group; apt's
        # file: method would read them as _apt.
        "-o", "APT::Sandbox::User=root", *CHECKS,
    ]  # fmt: skip


def _apt(program: str, work: Path, *args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [program, *_options(work), *args],
        capture_output=True, text=True, cwd=cwd, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
        check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    if result.returncode != 0 or any(line.startswith(("W:", "E:", "Err:")) for line in output.splitlines()):
        raise AptRefused(f"{program} {' '.join(args)}: exit {result.returncode}\n{output}")
    return result.stdout


def apt_view(repo: Path, keyring: Path, suites: Sequence[str], work: Path) -> dict[str, tuple[str, str]]:
    """package → (version, SHA-256 of the .deb apt downloaded), for every package of the given suites.

    Raises AptRefused when apt reports anything: a bad signature, a Release that does not match
    its Packages, a missing index or package, a hash mismatch.
    """
    for directory in ("sources.d", "state/lists/partial", "cache/archives/partial", "download"):
        (work / directory).mkdir(parents=True, exist_ok=True)
    (work / "sources.list").write_text("")
    (work / "status").write_text("")
    (work / "sources.d" / "site.sources").write_text(
        f"Types: deb\nURIs: file:{repo}\nSuites: {' '.join(suites)}\nComponents: main\nSigned-By: {keyring}\n"
    )
    _apt("apt-get", work, "update")
    available = [Deb822(stanza) for stanza in _apt("apt-cache", work, "dumpavail").split("\n\n") if stanza.strip()]
    seen: dict[str, tuple[str, str]] = {}
    download = work / "download"
    for stanza in available:
        package, version = str(stanza["Package"]), str(stanza["Version"])
        for old in download.iterdir():
            old.unlink()
        _apt("apt-get", work, "download", f"{package}={version}", cwd=download)
        (fetched,) = download.iterdir()
        seen[package] = (version, hashlib.sha256(fetched.read_bytes()).hexdigest())
    return seen
