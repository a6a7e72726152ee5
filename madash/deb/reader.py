"""Reading .deb files back with python-debian: for `repo`, for tests, and as the writer's oracle."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from madash.deb.spec import SCRIPT_NAMES


@dataclass(frozen=True)
class DebMember:
    path: str
    mode: int
    owner: str
    group: str
    data: bytes | None  # None for directories


@dataclass(frozen=True)
class DebContents:
    control: dict[str, str]
    conffiles: tuple[str, ...]
    scripts: dict[str, str]
    members: dict[str, DebMember]


def read_deb(path: Path, data: bytes | None = None) -> DebContents:
    """Everything a test or `repo` needs to know about a .deb, via python-debian; from ``data``
    when given (bytes already read and checked, so the file cannot change in between)."""
    from debian import debfile

    deb = debfile.DebFile(str(path)) if data is None else debfile.DebFile(fileobj=io.BytesIO(data))
    try:
        control_part = deb.control
        control = {str(k): str(v) for k, v in control_part.debcontrol().items()}
        conffiles: tuple[str, ...] = ()
        if control_part.has_file("conffiles"):
            conffiles = tuple((control_part.get_content("conffiles", encoding="utf-8") or "").split())
        scripts = {
            name: control_part.get_content(name, encoding="utf-8") or ""
            for name in SCRIPT_NAMES
            if control_part.has_file(name)
        }
        members: dict[str, DebMember] = {}
        tar = deb.data.tgz()
        for info in tar.getmembers():
            name = "/" + info.name.lstrip("./")
            data = None
            if info.isfile():
                handle = tar.extractfile(info)
                data = handle.read() if handle else b""
            members[name.rstrip("/") or "/"] = DebMember(name, info.mode, info.uname, info.gname, data)
        return DebContents(control, conffiles, scripts, members)
    finally:
        deb.close()
