"""Every maintainer-script snippet madash has, as typed data: when it runs and what it needs.

The metadata is this table rather than a header in each snippet file: the
types are checked by mypy and at import (a misspelt `$1` case, a case dpkg never
passes that script, a command no package is known for), the order of the
snippets of one concern is visible in one place, and a snippet file stays a
plain template of shell. tests/test_maintscripts.py holds table and files to
each other: every file has its row, every row its file, and every command a
body runs is declared in its row.

To add a snippet: write debian/snippets/NAME.SCRIPT (no `case "$1"`), add its
row below, and name its concern in the package's list (packages/client.py,
packages/server.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Script(StrEnum):
    PREINST = "preinst"
    POSTINST = "postinst"
    PRERM = "prerm"
    POSTRM = "postrm"


class Arg(StrEnum):
    """The first argument dpkg passes a maintainer script."""

    INSTALL = "install"
    UPGRADE = "upgrade"
    ABORT_UPGRADE = "abort-upgrade"
    CONFIGURE = "configure"
    ABORT_REMOVE = "abort-remove"
    ABORT_DECONFIGURE = "abort-deconfigure"
    REMOVE = "remove"
    PURGE = "purge"
    FAILED_UPGRADE = "failed-upgrade"
    DISAPPEAR = "disappear"
    DECONFIGURE = "deconfigure"
    ABORT_INSTALL = "abort-install"


# Debian policy 6.5 (and dpkg-reconfigure, which passes "configure"): every first argument each script
# can get. "triggered" is left out: madash packages declare no triggers.
CALLS: dict[Script, tuple[Arg, ...]] = {
    Script.PREINST: (Arg.INSTALL, Arg.UPGRADE, Arg.ABORT_UPGRADE),
    Script.POSTINST: (Arg.CONFIGURE, Arg.ABORT_UPGRADE, Arg.ABORT_REMOVE, Arg.ABORT_DECONFIGURE),
    Script.PRERM: (Arg.REMOVE, Arg.UPGRADE, Arg.DECONFIGURE, Arg.FAILED_UPGRADE),
    Script.POSTRM: (
        Arg.REMOVE, Arg.PURGE, Arg.UPGRADE, Arg.FAILED_UPGRADE, Arg.ABORT_INSTALL, Arg.ABORT_UPGRADE, Arg.DISAPPEAR,
    ),
}  # fmt: skip

# The package each command a snippet runs comes from (checked with `dpkg -S` by the tests).
COMMANDS: dict[str, str] = {
    "cat": "coreutils",
    "chmod": "coreutils",
    "chown": "coreutils",
    "id": "coreutils",
    "mkdir": "coreutils",
    "rm": "coreutils",
    "rmdir": "coreutils",
    "sha256sum": "coreutils",
    "tr": "coreutils",
    "cmp": "diffutils",
    "grep": "grep",
    "getent": "libc-bin",
    "adduser": "adduser",
    "dpkg-maintscript-helper": "dpkg",
    "dpkg-statoverride": "dpkg",
    "dpkg-query": "dpkg",
    "deb-systemd-helper": "init-system-helpers",
    "deb-systemd-invoke": "init-system-helpers",
    "systemctl": "systemd",
    "usermod": "passwd",
    "gpasswd": "passwd",
}
# Essential: yes in Debian 12 (checked with dpkg-query by the tests): always there, no relation needed.
ESSENTIAL = frozenset({"coreutils", "diffutils", "grep", "libc-bin", "dpkg", "init-system-helpers"})


@dataclass(frozen=True)
class Snippet:
    concern: str
    script: Script
    cases: frozenset[Arg]
    commands: tuple[str, ...] = ()  # run whenever the snippet runs: their packages must be installed
    optional: tuple[str, ...] = ()  # run only when present (a guard in the body): no relation needed
    packages: tuple[str, ...] = ()  # relied on otherwise (a user, a unit that a package brings)
    part: str = ""  # a concern's second snippet for the same script: file CONCERN-PART.SCRIPT

    def __post_init__(self) -> None:
        if not self.cases or not self.cases <= set(CALLS[self.script]):
            raise ValueError(f"{self.file}: dpkg never passes {self.script} {sorted(self.cases)}")
        unknown = set(self.commands + self.optional) - COMMANDS.keys()
        if unknown:
            raise ValueError(f"{self.file}: no package known for {', '.join(sorted(unknown))}")
        # Policy 7.2: postrm runs when dependencies may be gone; it may rely on Essential packages only.
        if self.script is Script.POSTRM and ({COMMANDS[c] for c in self.commands} | set(self.packages)) - ESSENTIAL:
            raise ValueError(f"{self.file}: postrm may only run commands of Essential packages unguarded")

    @property
    def name(self) -> str:
        return f"{self.concern}-{self.part}" if self.part else self.concern

    @property
    def file(self) -> str:
        return f"{self.name}.{self.script}"


def _on(*cases: Arg) -> frozenset[Arg]:
    return frozenset(cases)


_ABORTS = (Arg.ABORT_UPGRADE, Arg.ABORT_REMOVE, Arg.ABORT_DECONFIGURE)
_CONFIGURE = _on(Arg.CONFIGURE)
_PURGE = _on(Arg.PURGE)
# dpkg-maintscript-helper rm_conffile acts on these (dpkg-maintscript-helper(1)); it reads "$@" itself.
_RM_CONFFILE = {
    Script.PREINST: _on(Arg.INSTALL, Arg.UPGRADE),
    Script.POSTINST: _CONFIGURE,
    Script.POSTRM: _on(Arg.PURGE, Arg.ABORT_INSTALL, Arg.ABORT_UPGRADE),
}
_SYSTEMD = ("deb-systemd-helper", "deb-systemd-invoke")

# A concern's snippets for one script run in the order of this table, whatever the script.
SNIPPETS: tuple[Snippet, ...] = (
    *(
        Snippet("obsolete-conffiles", script, cases, ("dpkg-maintscript-helper",))
        for script, cases in _RM_CONFFILE.items()
    ),
    Snippet("obsolete-dirs", Script.POSTINST, _CONFIGURE, ("rmdir",)),
    Snippet("apt-cache", Script.POSTINST, _CONFIGURE, ("rm",)),
    Snippet("state", Script.POSTRM, _PURGE, ("rm",)),
    Snippet("telegraf-stock", Script.POSTRM, _on(Arg.REMOVE), optional=("systemctl", "deb-systemd-invoke")),
    Snippet("leftover-snippets", Script.POSTINST, _CONFIGURE, ("dpkg-query",)),
    Snippet("tls-key", Script.POSTINST, _CONFIGURE, ("dpkg-statoverride", "getent", "chown", "chmod")),
    Snippet("groups", Script.POSTINST, _CONFIGURE,
            ("mkdir", "cat", "rm", "grep", "getent", "id", "tr", "usermod", "gpasswd")),
    Snippet("groups", Script.POSTRM, _on(Arg.REMOVE, Arg.PURGE), ("cat", "grep", "rm"), optional=("gpasswd",)),
    Snippet(
        "telegraf-start", Script.POSTINST, _on(Arg.CONFIGURE, *_ABORTS), ("deb-systemd-invoke",), ("systemctl",),
        ("telegraf",),
    ),
    Snippet("data-dirs", Script.POSTINST, _CONFIGURE, ("mkdir", "chmod", "chown")),
    Snippet("data-dirs", Script.POSTRM, _PURGE, ("rm",)),
    Snippet("repo-dir", Script.POSTINST, _CONFIGURE, ("getent", "adduser", "mkdir", "chown", "chmod")),
    Snippet("stunnel-key", Script.POSTINST, _CONFIGURE, ("chown", "chmod"), packages=("stunnel4",)),
    Snippet("units", Script.POSTINST, _on(Arg.CONFIGURE, *_ABORTS), (*_SYSTEMD, "mkdir", "sha256sum", "cmp"),
            ("systemctl",)),
    Snippet("units", Script.PRERM, _on(Arg.REMOVE), ("deb-systemd-invoke",)),
    # Purge forgets the enablement first, then systemd reloads (remove reloads only).
    Snippet("units", Script.POSTRM, _PURGE, optional=("deb-systemd-helper",)),
    Snippet("units", Script.POSTRM, _on(Arg.REMOVE, Arg.PURGE), optional=("systemctl",), part="reload"),
)  # fmt: skip
