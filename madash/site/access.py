"""Who may read what the site holds: its owner only, or also the group of a web server.

Client packages carry their host's private key and the writer password, the
server package every password of the site: a .deb in dist/ or repo/pool/ is as
secret as the keys in pki/. They are the owner's only (0600 in 0700
directories), whatever the umask or the mode of a pre-existing site directory;
`[repo] group` in madash.toml lets one group read them too (0640 in 0750
directories, and the site root 0710 so that the group can reach repo/ without
listing the site), for a web server that serves repo/.
"""

from __future__ import annotations

import grp
import os
import stat
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from madash import modes
from madash.errors import SiteError
from madash.fsutil import describe_os_error
from madash.site.config import Site


@dataclass(frozen=True)
class Access:
    gid: int | None  # None: the site's owner only

    @property
    def file_mode(self) -> int:
        return modes.SECRET if self.gid is None else 0o640

    @property
    def dir_mode(self) -> int:
        return modes.PRIVATE_DIR if self.gid is None else 0o750

    @property
    def root_mode(self) -> int:
        # 0710: the group may pass through the root to repo/, not list it.
        return modes.PRIVATE_DIR if self.gid is None else 0o710

    def apply(self, path: Path, mode: int, *, follow: bool = False) -> None:
        """Give path exactly mode, and the group when one is set; only what differs is changed."""
        try:
            info = path.stat() if follow else path.lstat()
            if stat.S_ISLNK(info.st_mode):
                return
            if self.gid is not None and info.st_gid != self.gid:
                try:
                    os.chown(path, -1, self.gid, follow_symlinks=False)
                except PermissionError:
                    raise SiteError(
                        f"cannot give {path} to group {_group_name(self.gid)}",
                        hint="repo.group in madash.toml must be a group you are a member of",
                    ) from None
            if stat.S_IMODE(info.st_mode) != mode:
                os.chmod(path, mode)
        except OSError as exc:
            raise describe_os_error(exc, path) from exc

    def secret_file(self, path: Path) -> None:
        self.apply(path, self.file_mode)

    def secret_dir(self, path: Path) -> None:
        """Create path if missing and give it the directory mode (its parents must exist)."""
        try:
            path.mkdir(mode=modes.PRIVATE_DIR, exist_ok=True)
        except OSError as exc:
            raise describe_os_error(exc, path) from exc
        self.apply(path, self.dir_mode)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def site_access(site: Site) -> Access:
    """The access madash.toml asks for; an unknown group is an error, not a silent owner-only."""
    return _access(site.config.repo.group)


@cache  # a fleet's workers ask once per host
def _access(name: str) -> Access:
    if not name:
        return Access(None)
    try:
        return Access(grp.getgrnam(name).gr_gid)
    except KeyError:
        raise SiteError(
            f"madash.toml: repo.group: there is no group {name!r} on this machine",
            hint="name the group of the web server that serves repo/ (e.g. www-data), or remove the key",
        ) from None


def secure_root(site: Site, access: Access | None = None) -> Access:
    """The site root: it holds the CA key, so nobody but its owner (and the group, to traverse) gets in."""
    access = access or site_access(site)
    access.apply(site.paths.root, access.root_mode, follow=True)
    return access


def stamp(access: Access) -> str:
    """What the repository state remembers, to re-apply every mode once when the group changes."""
    return "owner" if access.gid is None else f"group:{access.gid}"
