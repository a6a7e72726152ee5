"""The in-memory package tree: every file with its bytes, mode and conffile flag.

A PackageSpec is everything that goes into a .deb, decided before anything is
written: deb/writer.py only turns it into bytes. Modes are explicit on every entry, so
the checkout's modes and the umask never leak into a package.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from madash import modes
from madash.formats import deb822

# Debian policy 5.3: the binary control fields in their usual order.
CONTROL_ORDER = (
    "Package",
    "Version",
    "Architecture",
    "Maintainer",
    "Installed-Size",
    "Pre-Depends",
    "Depends",
    "Recommends",
    "Suggests",
    "Conflicts",
    "Breaks",
    "Replaces",
    "Provides",
    "Section",
    "Priority",
    "Homepage",
    "Description",
)
SCRIPT_NAMES = ("preinst", "postinst", "prerm", "postrm")


@dataclass(frozen=True)
class FileEntry:
    path: str  # absolute, inside the package
    data: bytes
    mode: int = modes.FILE
    conffile: bool = False

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or posixpath.normpath(self.path) != self.path:
            raise ValueError(f"package paths must be absolute and normalized: {self.path!r}")
        # Debian policy 10.7.2: everything under /etc is a configuration file.
        if self.path.startswith("/etc/") and not self.conffile:
            raise ValueError(f"{self.path} is under /etc and must be a conffile")


@dataclass(frozen=True)
class PackageSpec:
    name: str
    control: Mapping[str, str]  # without Package, Version and Installed-Size
    files: tuple[FileEntry, ...]
    dirs: tuple[str, ...] = ()  # directories to ship even when empty
    scripts: Mapping[str, str] = field(default_factory=dict)
    # Files made from the version once it is known (as the changelog is), kept out of the digest: the
    # version is chosen by the digest, so a file holding it cannot be part of what decides it.
    versioned: Callable[[str], tuple[FileEntry, ...]] | None = field(default=None, compare=False)

    def all_dirs(self) -> list[str]:
        """Every directory the package contains, parents first."""
        found: set[str] = set()
        for path in [*(posixpath.dirname(f.path) for f in self.files), *self.dirs]:
            while path not in ("/", ""):
                found.add(path)
                path = posixpath.dirname(path)
        return sorted(found)

    def conffiles(self) -> list[str]:
        return sorted(f.path for f in self.files if f.conffile)

    def installed_size_kib(self) -> int:
        # dpkg-gencontrol's rule: 1 KiB per file rounded up, plus 1 per directory.
        return sum(-(-len(f.data) // 1024) or 1 for f in self.files) + len(self.all_dirs())

    def control_text(self, version: str) -> str:
        fields = {"Package": self.name, "Version": version, **self.control}
        fields["Installed-Size"] = str(self.installed_size_kib())
        return deb822.format_paragraph(fields, CONTROL_ORDER)

    def digest(self, salt: Iterable[str] = ()) -> str:
        """A hash of everything that makes the package what it is (not its version)."""
        h = hashlib.sha256()
        for part in salt:
            h.update(b"salt\0" + part.encode() + b"\0")
        h.update(self.control_text("0").encode())
        for entry in sorted(self.files, key=lambda f: f.path):
            h.update(f"file\0{entry.path}\0{entry.mode:o}\0{int(entry.conffile)}\0{len(entry.data)}\0".encode())
            h.update(entry.data)
        for directory in sorted(self.dirs):
            h.update(f"dir\0{directory}\0".encode())
        for name in SCRIPT_NAMES:
            h.update(f"script\0{name}\0".encode() + self.scripts.get(name, "").encode())
        return h.hexdigest()
