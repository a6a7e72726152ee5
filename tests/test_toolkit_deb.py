"""The toolkit as a Debian package: python3-madash, built with stdeb, installed with apt.

scripts/build-toolkit-deb builds python3-madash from setup.py and python3-debian-inspector
(which Debian does not package) from its sdist, both with stdeb. The packages are checked
with dpkg-deb and lintian, then python3-madash is installed with apt in a Debian 12 chroot,
where it creates a site and bakes a client and the server package; the pip-installed toolkit
bakes them again from a copy of that site, and each pair must be identical, byte for byte.

The chroot has no network and no apt sources. Its Debian dependencies are chosen by apt on the
host (simulating the install of our two .debs against the chroot's dpkg status, Recommends
included, as a plain 'apt install' would), fetched with 'apt-get download' (cached), and served
to the chroot as a flat file:// repository made by apt-ftparchive, standing in for Debian's
mirror. Our two packages come from a madash site repository's shared suite (madash-build repo),
signed, with apt's date checks on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from madash import __version__
from madash.apt import publish as repo
from madash.bootstrap import init_site
from madash.cli.parser import build_parser
from madash.deb.reader import DebContents, read_deb
from madash.site.config import load_site

if TYPE_CHECKING:
    from tests.chroot import Chroot

pytest_plugins = ["tests.chroot"]

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "build-toolkit-deb"
# debian-inspector's sdist and package (see the script), and the Debian packages the chroot gets.
CACHE = Path(os.environ.get("MADASH_TOOLKIT_CACHE", "/var/cache/madash-test/toolkit-deb"))
DATA_DIRS = ("conf", "debian", "dashboards")
SITE_PACKAGES = "/usr/lib/python3/dist-packages"
# What Debian itself must provide (python3-debian-inspector comes from the script).
DEBIAN_DEPENDS = {
    "python3-jinja2", "python3-cryptography", "python3-debian", "python3-tomlkit", "python3-rich", "python3-yaml"
}  # fmt: skip
# apt-get --simulate: "Inst NAME [OLD] (VERSION ORIGINS [ARCH])"
INST_LINE = re.compile(r"^Inst (\S+) (?:\[\S+\] )?\((\S+) .*\[(\S+)\]\)$", re.MULTILINE)
# The libraries a bake goes through, for the message when the two bakes differ.
VERSIONS = (
    "import sys, jinja2, cryptography, tomlkit; "
    "print('python', sys.version.split()[0], 'jinja2', jinja2.__version__, "
    "'cryptography', cryptography.__version__, 'tomlkit', tomlkit.__version__)"
)


@dataclass(frozen=True)
class Built:
    out: Path
    toolkit: Path
    inspector: Path
    sdist: Path
    log: str


def _one(directory: Path, pattern: str) -> Path:
    found = sorted(directory.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {directory}, found {found}"
    return found[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Both packages, built once by the script (debian-inspector's sdist and package are cached)."""
    out = tmp_path_factory.mktemp("dist-toolkit")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADASH_")}
    env["MADASH_BUILD_CACHE"] = str(CACHE / "build")
    result = subprocess.run([str(SCRIPT), str(out)], capture_output=True, text=True, env=env, timeout=900, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return Built(
        out=out,
        toolkit=_one(out, "python3-madash_*_all.deb"),
        inspector=_one(out, "python3-debian-inspector_*_all.deb"),
        sdist=_one(out, "madash-*.tar.gz"),
        log=result.stdout,
    )


def _depends(control: dict[str, str], field: str = "Depends") -> set[str]:
    """Package names in a relationship field, without versions or architecture qualifiers."""
    names = set()
    for clause in control.get(field, "").split(","):
        for alternative in clause.split("|"):
            name = alternative.strip().split(" ", 1)[0].split(":", 1)[0]
            if name:
                names.add(name)
    return names


def _tracked_files() -> set[str]:
    """The checkout's files as git lists them (tracked and new), as the script's build tree gets them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {path for path in listed.split("\0") if path and (ROOT / path).is_file()}


def _template_files() -> set[str]:
    """conf/, debian/, dashboards/ of the checkout as the script's build tree gets them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *DATA_DIRS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {path for path in listed.split("\0") if path and (ROOT / path).is_file()}


def _last_commit() -> tuple[int, str]:
    """The checkout's last commit: its time and its short hash."""
    shown = subprocess.run(
        ["git", "log", "-1", "--format=%ct %h", "--abbrev=7"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return int(shown[0]), shown[1]


def test_script_names_the_packages_by_version(built: Built) -> None:
    # madash's version, then the last commit's date and hash (and a hash of uncommitted changes, if any).
    epoch, commit = _last_commit()
    date = dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y%m%d.%H%M%S")
    version = re.escape(f"{__version__}+git{date}.{commit}")
    assert re.fullmatch(rf"python3-madash_{version}(\.d[0-9a-f]{{8}})?-1_all\.deb", built.toolkit.name), built.toolkit
    assert re.fullmatch(r"python3-debian-inspector_[0-9.]+-1_all\.deb", built.inspector.name)
    assert built.sdist.name == f"madash-{__version__}.tar.gz"
    assert set(built.out.iterdir()) == {built.toolkit, built.inspector, built.sdist}


def test_lintian_reports_no_errors(built: Built) -> None:
    result = subprocess.run(
        ["lintian", "--fail-on", "error", "--no-tag-display-limit", str(built.toolkit), str(built.inspector)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not [line for line in result.stdout.splitlines() if line.startswith("E:")], result.stdout


# stdeb's changelog is a single "initial release" entry that closes no bug: true of every build, and no upload.
TOOLKIT_LINTIAN_KNOWN = {"initial-upload-closes-no-bugs"}


def test_lintian_pedantic_on_the_toolkit(built: Built) -> None:
    result = subprocess.run(
        ["lintian", "--pedantic", "--info", "--no-tag-display-limit", str(built.toolkit)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    tags = {line.split()[2] for line in result.stdout.splitlines() if line[:2] in ("E:", "W:", "I:", "P:")}
    assert tags <= TOOLKIT_LINTIAN_KNOWN, result.stdout


def test_rebuild_is_byte_identical(built: Built, tmp_path: Path) -> None:
    """SOURCE_DATE_EPOCH is the last commit's time: the changelog's date and every mtime come from it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADASH_")}
    env["MADASH_BUILD_CACHE"] = str(CACHE / "build")
    again = subprocess.run([str(SCRIPT), str(tmp_path)], capture_output=True, text=True, env=env, timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    rebuilt = _one(tmp_path, "python3-madash_*_all.deb")
    assert rebuilt.name == built.toolkit.name
    assert rebuilt.read_bytes() == built.toolkit.read_bytes()
    epoch, _ = _last_commit()
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(rebuilt)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert {member.mtime for member in tar.getmembers()} == {epoch}


def test_manual_page_and_completion_from_the_parser(built: Built, tmp_path: Path) -> None:
    contents = read_deb(built.toolkit)
    page = gzip.decompress(contents.members["/usr/share/man/man1/madash-build.1.gz"].data or b"").decode()
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name in commands:
        assert f"madash-build {name}" in page, name
    assert page.splitlines()[page.splitlines().index(".SH NAME") + 1].startswith("madash-build \\- ")
    # man itself renders it without a warning.
    rendered = subprocess.run(
        ["man", "--warnings", "-l", "-"], input=page, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "MANWIDTH": "80", "LANG": "C.UTF-8"},
    )  # fmt: skip
    assert "DESCRIPTION" in rendered.stdout and not rendered.stderr, rendered.stderr
    check_completion(contents.members["/usr/share/bash-completion/completions/madash-build"].data or b"", tmp_path)


def check_completion(script: bytes, tmp_path: Path) -> None:
    """bash loads the completion and completes the commands and a command's options, as bash-completion would."""
    path = tmp_path / "completion"
    path.write_bytes(script)
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices

    def complete(*words: str) -> list[str]:
        words_text = " ".join(f"'{w}'" for w in words)
        line = " ".join(words)
        return subprocess.run(
            ["bash", "-c", f'. {path}; COMP_WORDS=({words_text}); COMP_CWORD={len(words) - 1}; COMP_LINE="{line}"; '
             'COMP_POINT=${#COMP_LINE}; $(complete -p madash-build | sed "s/.*-F \\([^ ]*\\) .*/\\1/"); '
             'printf "%s\\n" "${COMPREPLY[@]}"'],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip

    assert set(complete("madash-build", "")) >= set(commands)
    assert "--feature" in complete("madash-build", "client", "--fe")


def test_pip_wheel_carries_the_manual_page_and_completion(tmp_path: Path) -> None:
    """What pip installs: the wheel built from a copy of the checkout, with this venv's argparse-manpage and shtab."""
    tree = tmp_path / "tree"
    for path in _tracked_files():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, tree / path)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-build-isolation", "--no-deps", "--no-index",
         "--wheel-dir", str(tmp_path / "wheel"), str(tree)],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    with zipfile.ZipFile(_one(tmp_path / "wheel", "madash-*.whl")) as wheel:
        data = f"madash-{__version__}.data/data/share"
        page = wheel.read(f"{data}/man/man1/madash-build.1").decode()
        completion = wheel.read(f"{data}/bash-completion/completions/madash-build")
    assert re.search(r"^\.SH NAME\nmadash\\?-build \\- \w", page, re.MULTILINE) and ".SH SYNOPSIS" in page
    check_completion(completion, tmp_path)


def test_control_fields_name_a_maintainer_and_debian_packages(built: Built) -> None:
    toolkit = read_deb(built.toolkit).control
    inspector = read_deb(built.inspector).control
    for control in (toolkit, inspector):
        assert "None" not in control["Maintainer"]
        assert re.fullmatch(r"[^<>]+ <[^@<>\s]+@[^@<>\s]+\.[^@<>\s]+>", control["Maintainer"]), control
        assert control["Architecture"] == "all"
    assert DEBIAN_DEPENDS | {"python3-debian-inspector"} <= _depends(toolkit)
    assert {"gpg", "gpg-agent", "rsync", "openssh-client"} <= _depends(toolkit, "Recommends")
    assert {"python3-attr", "python3-chardet"} <= _depends(inspector)
    assert "(>= 3.11" in toolkit["Depends"]  # python_requires
    # Its own description, not the README's Markdown: setup.py's summary (stdeb keeps 60 characters of it)
    # and DEBIAN_DESCRIPTION.
    synopsis, *body = toolkit["Description"].splitlines()
    assert synopsis == "Debian packages for a Grafana, InfluxDB and Telegraf site"
    assert body[0].strip().startswith("madash keeps a small monitoring site") and "```" not in toolkit["Description"]
    assert all(len(line) <= 80 for line in body)


def test_toolkit_package_carries_the_command_and_the_templates(built: Built) -> None:
    contents = read_deb(built.toolkit)
    command = contents.members["/usr/bin/madash-build"]
    assert command.mode & 0o777 == 0o755
    assert b"madash.cli" in (command.data or b"")
    assert f"{SITE_PACKAGES}/madash/cli/__init__.py" in contents.members
    assert "/usr/share/doc/python3-madash/copyright" in contents.members
    data = f"{SITE_PACKAGES}/madash/data/"
    for name in DATA_DIRS:
        assert contents.members[data + name].data is None, f"madash/data/{name} is not a directory"
    shipped = {
        path.removeprefix(data) for path, m in contents.members.items() if path.startswith(data) and m.data is not None
    }
    # Exactly the templates: nothing missing, and none of the Debian packaging that stdeb and
    # debhelper write into the build tree's debian/ (control, rules, changelog, ...).
    assert shipped == _template_files()


def test_sdist_carries_the_templates(built: Built) -> None:
    prefix = f"madash-{__version__}/"
    with tarfile.open(built.sdist) as sdist:
        names = {name.removeprefix(prefix) for name in sdist.getnames()}
    missing = _template_files() - names
    assert not missing, f"not in the sdist: {sorted(missing)}"


def test_inspector_package_carries_the_module_and_its_licenses(built: Built) -> None:
    contents = read_deb(built.inspector)
    assert f"{SITE_PACKAGES}/debian_inspector/version.py" in contents.members
    copyright_file = contents.members["/usr/share/doc/python3-debian-inspector/copyright"].data or b""
    assert b"License: Apache-2.0" in copyright_file


# --- in the chroot ------------------------------------------------------------------


def _debian_packages_for(chroot: Chroot, ours: list[Path]) -> list[Path]:
    """The Debian .debs that 'apt install' of ours needs in the chroot, fetched on the host."""
    simulated = subprocess.run(
        [
            "apt-get",
            "--simulate",
            "-o",
            f"Dir::State::status={chroot.root / 'var/lib/dpkg/status'}",
            "-o",
            "APT::Install-Recommends=true",
            "install",
            *map(str, ours),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "LANG": "C.UTF-8"},
        check=False,
    )
    assert simulated.returncode == 0, simulated.stdout + simulated.stderr
    local = {path.name.split("_", 1)[0] for path in ours}
    wanted = [(n, v, a) for n, v, a in INST_LINE.findall(simulated.stdout) if n not in local]
    assert wanted, simulated.stdout
    cache = CACHE / "debs"
    cache.mkdir(parents=True, exist_ok=True)
    files = {(n, v): cache / f"{n}_{v.replace(':', '%3a')}_{a}.deb" for n, v, a in wanted}
    missing = [f"{n}={v}" for (n, v), path in files.items() if not path.exists()]
    if missing:
        download = ["apt-get", "download", "-q", *missing]
        fetched = subprocess.run(download, cwd=cache, capture_output=True, text=True, timeout=600, check=False)
        if fetched.returncode != 0:  # stale lists name versions the mirror no longer has
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=600, check=True)
            fetched = subprocess.run(download, cwd=cache, capture_output=True, text=True, timeout=600, check=False)
        assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    absent = [str(path) for path in files.values() if not path.exists()]
    assert not absent, f"apt-get download did not write {absent}"
    for stale in set(cache.glob("*.deb")) - set(files.values()):
        stale.unlink()  # superseded by a newer version in the host's lists
    return list(files.values())


def _flat_repository(directory: Path, debs: list[Path]) -> Path:
    directory.mkdir()
    for deb in debs:
        shutil.copyfile(deb, directory / deb.name)
    for index, argv in (("Packages", ["packages", "."]), ("Release", ["release", "."])):
        text = subprocess.run(["apt-ftparchive", *argv], cwd=directory, capture_output=True, check=True).stdout
        (directory / index).write_bytes(text)
    return directory


def _difference(a: DebContents, b: DebContents) -> list[str]:
    """What differs between two packages, for the failure message."""
    keys = sorted(a.control.keys() | b.control.keys())
    lines = [
        f"control {k}: {a.control.get(k)!r} != {b.control.get(k)!r}"
        for k in keys
        if a.control.get(k) != b.control.get(k)
    ]
    if a.conffiles != b.conffiles:
        lines.append(f"conffiles: {a.conffiles} != {b.conffiles}")
    scripts = sorted(a.scripts.keys() | b.scripts.keys())
    lines += [f"script {name} differs" for name in scripts if a.scripts.get(name) != b.scripts.get(name)]
    for path in sorted(a.members.keys() | b.members.keys()):
        left, right = a.members.get(path), b.members.get(path)
        if left is None or right is None:
            lines.append(f"{path}: only in {'the chroot bake' if right is None else 'the host bake'}")
        elif left != right:
            lines.append(f"{path}: differs ({left.mode:o} {left.owner} vs {right.mode:o} {right.owner})")
    return lines


def _archive_layout(path: Path) -> list[str]:
    """The ar members of a .deb (name and size) and the data members' mtimes, which read_deb leaves out."""
    data = path.read_bytes()
    assert data.startswith(b"!<arch>\n"), path
    members, offset = [], 8
    while offset + 60 <= len(data):
        header = data[offset : offset + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        members.append(f"{name} ({size} bytes, ar mtime {int(header[16:28])})")
        offset += 60 + size + (size % 2)
    listing = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(path)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(listing)) as tar:
        mtimes = sorted({int(info.mtime) for info in tar.getmembers()})
    return [*members, f"data mtimes {mtimes}"]


def _stale_sources(toolkit: Path) -> list[str]:
    """Toolkit files that differ between the .deb and the checkout the pip-installed (editable) toolkit runs."""
    members = read_deb(toolkit).members
    prefix = f"{SITE_PACKAGES}/madash/"
    in_deb = {}
    for path, member in members.items():
        if path.startswith(prefix) and member.data is not None:
            relative = path.removeprefix(prefix)
            in_deb[relative.removeprefix("data/") if relative.startswith("data/") else f"madash/{relative}"] = (
                member.data
            )
    in_checkout = {f"madash/{p.name}" for p in (ROOT / "madash").glob("*.py")} | _template_files()
    stale = sorted(
        name for name, data in in_deb.items() if not (ROOT / name).is_file() or (ROOT / name).read_bytes() != data
    )
    return stale + sorted(f"{name} (new)" for name in in_checkout - in_deb.keys())


@pytest.mark.chroot
def test_apt_installed_toolkit_bakes_what_the_pip_installed_one_bakes(
    built: Built, chroot: Chroot, tmp_path: Path
) -> None:
    ours = [built.toolkit, built.inspector]
    # Debian's own packages come from a flat local repository standing in for Debian's mirror
    # (the chroot has no network); the toolkit comes from a madash site repository's shared
    # suite, signed, with apt's date checks on: the way an admin installs it with apt.
    debian = _flat_repository(tmp_path / "debian-mirror", _debian_packages_for(chroot, ours))
    chroot.copy_in(debian, "/srv/debian-mirror")
    chroot.write_text(
        "/etc/apt/sources.list.d/debian-mirror.sources",
        "Types: deb\nURIs: file:/srv/debian-mirror\nSuites: ./\nTrusted: yes\n",
    )
    publisher = tmp_path / "publisher"
    init_site(publisher, ["127.0.0.1"], "toolkit", force=False, ca_passphrase=None, now=dt.datetime.now(dt.UTC))
    (publisher / "dist").mkdir()
    for deb in ours:
        shutil.copy(deb, publisher / "dist")
    repo.publish(load_site(publisher), dt.datetime.now(dt.UTC))
    served = chroot.host_path("/srv/madash")
    shutil.copytree(publisher / "repo", served, symlinks=True)
    chroot.write_text(
        "/etc/apt/sources.list.d/madash.sources",
        "Types: deb\nURIs: file:///srv/madash\nSuites: shared\nComponents: main\n"
        "Signed-By: /etc/apt/keyrings/madash.gpg\n",
    )
    keyring = chroot.host_path("/etc/apt/keyrings/madash.gpg")
    keyring.parent.mkdir(parents=True, exist_ok=True)
    keyring.write_bytes((publisher / "repo" / repo.KEYRING_NAME).read_bytes())
    checks = ["-o", "Acquire::Check-Valid-Until=true", "-o", "Acquire::Check-Date=true"]
    update = chroot.run(["apt-get", *checks, "update", "-q"])
    assert "W:" not in update.stdout + update.stderr, update.stdout + update.stderr
    chroot.run(["apt-get", *checks, "install", "-y", "-q", "python3-madash"])
    policy = chroot.run(["apt-cache", "policy", "python3-madash"]).stdout
    assert "file:/srv/madash shared/main" in policy, policy
    assert chroot.run(["madash-build", "--version"]).stdout.strip() == f"madash-build {__version__}"
    assert "client" in chroot.run(["madash-build", "--help"]).stdout
    chroot.run(["madash-build", "--site", "/tmp/s", "init", "--server", "127.0.0.1"])
    chroot.run(["madash-build", "--site", "/tmp/s", "client", "laptop", "--feature", "smart"])
    chroot.run(["madash-build", "--site", "/tmp/s", "server"])
    client_deb = _one(chroot.host_path("/tmp/s/dist"), "madash-client-laptop_*_all.deb")
    in_chroot = f"/tmp/s/dist/{client_deb.name}"
    assert chroot.run(["dpkg-deb", "--field", in_chroot, "Package"]).stdout.strip() == "madash-client-laptop"
    assert "./etc/madash/" in chroot.run(["dpkg-deb", "--contents", in_chroot]).stdout
    assert "smartmontools" in _depends(read_deb(client_deb).control)

    # The same packages, baked by the pip-installed toolkit from a copy of the very same site.
    chroot_site = tmp_path / "chroot-site"
    shutil.copytree(chroot.host_path("/tmp/s"), chroot_site, symlinks=True)
    host_site = tmp_path / "host-site"
    shutil.copytree(chroot_site, host_site, symlinks=True)
    for deb in (host_site / "dist").glob("*.deb"):
        deb.unlink()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADASH_")}
    pip_toolkit = Path(sys.executable).with_name("madash-build")
    differences = []
    for command, pattern in (
        (["client", "laptop"], "madash-client-laptop_*_all.deb"),
        (["server"], "madash-server_*_all.deb"),
    ):
        host_bake = subprocess.run(
            [str(pip_toolkit), "--site", str(host_site), *command],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        assert host_bake.returncode == 0, host_bake.stdout + host_bake.stderr
        from_chroot, from_host = _one(chroot_site / "dist", pattern), _one(host_site / "dist", pattern)
        if from_chroot.read_bytes() != from_host.read_bytes():
            differences.append(f"chroot: {from_chroot.name}; host: {host_bake.stdout.strip()}")
            differences += [f"  {line}" for line in _difference(read_deb(from_chroot), read_deb(from_host))]
            differences += [f"  chroot archive: {line}" for line in _archive_layout(from_chroot)]
            differences += [f"  host archive:   {line}" for line in _archive_layout(from_host)]
    if differences:
        chroot_versions = chroot.run(["python3", "-c", VERSIONS]).stdout.strip()
        host_versions = subprocess.run([sys.executable, "-c", VERSIONS], capture_output=True, text=True).stdout.strip()
        # The pip-installed toolkit is an editable install: it runs the checkout as it is now,
        # which may have changed since the script built the .deb from it.
        stale = _stale_sources(built.toolkit)
        pytest.fail(
            "the apt-installed and the pip-installed toolkit baked different packages from the same site\n"
            f"chroot: {chroot_versions}\nhost:   {host_versions}\n"
            + (f"the checkout changed since the .deb was built, in: {', '.join(stale)}\n" if stale else "")
            + "\n".join(differences)
        )
