"""`madash-build repo`: dist/ → a signed apt repository in repo/, one suite per host.

Layout: dists/shared and pool/shared hold the server, the toolkit and any
extra packages; dists/host-HOST and pool/host-HOST hold HOST's package and
nothing else, so a web server can authorise each host by its certificate name.
Every publish builds a complete new dists/ generation aside and swaps the
dists symlink to it in one rename: a reader never sees a Release that does not
match its Packages. A publish that would change nothing changes nothing.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import lzma
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from debian_inspector.version import Version

from madash import signing
from madash.errors import MadashError, UsageError
from madash.fsutil import atomic_write, describe_os_error, make_dir, site_lock
from madash.render import render
from madash.site import Site

SHARED = "shared"
SHARED_PACKAGES = ("madash-server", "python3-madash", "python3-debian-inspector")
CLIENT_PREFIX = "madash-client-"
KEYRING_NAME = "madash-archive-keyring.gpg"
CACHE_NAME = ".madash-cache.json"
GENERATIONS = ".generations"
CONTROL_FIELDS_LAST = ("Description",)


def suite_of_host(host: str) -> str:
    return f"host-{host}"


@dataclass(frozen=True)
class Deb:
    """One .deb of dist/ with what its Packages stanza needs."""

    path: Path
    package: str
    version: str
    control: str  # the control paragraph, without trailing newline
    size: int
    md5: str
    sha256: str
    sha512: str


@dataclass(frozen=True)
class PublishResult:
    changed: bool
    suites: dict[str, list[str]]  # suite → "package version" lines
    removed: list[str]


def _suite_for(package: str, extra: Iterable[str]) -> str | None:
    if package.startswith(CLIENT_PREFIX):
        return suite_of_host(package.removeprefix(CLIENT_PREFIX))
    if package in SHARED_PACKAGES or package in extra:
        return SHARED
    return None


def _read_control(path: Path) -> str:
    from debian import debfile

    try:
        deb = debfile.DebFile(str(path))
    except Exception as exc:  # python-debian raises several kinds for a damaged archive
        raise UsageError(f"{path} is not a Debian package ({exc})", hint="remove it from dist/") from None
    try:
        return deb.debcontrol().dump().rstrip("\n")
    finally:
        deb.close()


def _scan(site: Site, cache: dict[str, dict[str, object]]) -> list[Deb]:
    """Every .deb in dist/, read only when its size or mtime changed since the last publish."""
    dist = site.paths.dist
    if not dist.is_dir():
        raise UsageError(f"no packages to publish: {dist} does not exist", hint="bake some with 'madash-build client'")
    debs = []
    for path in sorted(dist.iterdir()):
        if path.name.startswith("."):
            continue  # a bake in progress
        if path.suffix != ".deb" or not path.is_file():
            raise UsageError(f"{path} is not a .deb", hint="dist/ holds only packages; move other files elsewhere")
        stat = path.stat()
        key = path.name
        cached = cache.get(key)
        if not (cached and cached["size"] == stat.st_size and cached["mtime_ns"] == stat.st_mtime_ns):
            data = path.read_bytes()
            cached = {
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "control": _read_control(path),
                "md5": hashlib.md5(data).hexdigest(),  # noqa: S324 - the Packages field, not security
                "sha256": hashlib.sha256(data).hexdigest(),
                "sha512": hashlib.sha512(data).hexdigest(),
            }
            cache[key] = cached
        fields = dict(line.split(": ", 1) for line in str(cached["control"]).splitlines() if ": " in line[:80])
        debs.append(
            Deb(
                path,
                fields.get("Package", ""),
                fields.get("Version", ""),
                str(cached["control"]),
                int(str(cached["size"])),
                str(cached["md5"]),
                str(cached["sha256"]),
                str(cached["sha512"]),
            )
        )
    for gone in set(cache) - {d.path.name for d in debs}:
        del cache[gone]
    if not debs:
        raise UsageError(f"no packages to publish in {dist}", hint="bake some with 'madash-build client' first")
    return debs


def _newest(debs: list[Deb], extra: tuple[str, ...]) -> dict[str, dict[str, list[Deb]]]:
    """suite → package → its versions, newest first."""
    suites: dict[str, dict[str, list[Deb]]] = {}
    for deb in debs:
        suite = _suite_for(deb.package, extra)
        if suite is None:
            raise UsageError(
                f"{deb.path.name} ({deb.package}) is not one of madash's packages",
                hint="list other packages to publish in madash.toml [repo] extra_packages",
            )
        suites.setdefault(suite, {}).setdefault(deb.package, []).append(deb)
    for packages in suites.values():
        for versions in packages.values():
            versions.sort(key=lambda d: Version.from_string(d.version), reverse=True)
    return suites


def _stanza(deb: Deb, filename: str) -> str:
    lines = deb.control.splitlines()
    # Description (and its continuation lines) last, as dpkg-scanpackages and apt-ftparchive write it.
    start = next((i for i, line in enumerate(lines) if line.startswith("Description:")), len(lines))
    head, description = lines[:start], lines[start:]
    extra = [f"Filename: {filename}", f"Size: {deb.size}", f"MD5sum: {deb.md5}", f"SHA256: {deb.sha256}",
             f"SHA512: {deb.sha512}"]  # fmt: skip
    return "\n".join([*head, *extra, *description]) + "\n"


@dataclass(frozen=True)
class IndexFile:
    path: str  # relative to dists/SUITE
    data: bytes


def _indexes(packages_text: bytes, architectures: tuple[str, ...]) -> list[IndexFile]:
    files = []
    compressed = {
        "Packages": packages_text,
        "Packages.gz": gzip.compress(packages_text, compresslevel=9, mtime=0),
        "Packages.xz": lzma.compress(packages_text, preset=6),
    }
    for arch in architectures:
        files += [IndexFile(f"main/binary-{arch}/{name}", data) for name, data in compressed.items()]
    return files


def _release(site: Site, suite: str, files: list[IndexFile], now: dt.datetime) -> bytes:
    repo = site.config.repo
    valid_until = ""
    if repo.valid_days:
        valid_until = _rfc2822(now + dt.timedelta(days=repo.valid_days))
    checksums = {
        name: [{"digest": algorithm(f.data).hexdigest(), "size": len(f.data), "path": f.path} for f in files]
        for name, algorithm in (("SHA256", hashlib.sha256), ("SHA512", hashlib.sha512))
    }
    host = suite.removeprefix("host-")
    description = f"madash site {site.config.site.name}: " + (
        "server and shared packages" if suite == SHARED else f"the packages of host {host}"
    )
    text = render(
        "conf/apt/Release.j2",
        {
            "origin": site.config.site.name,
            "suite": suite,
            "date": _rfc2822(now),
            "valid_until": valid_until,
            "architectures": repo.architectures,
            "description": description,
            "checksums": checksums,
        },
    )
    return text.encode()


def _rfc2822(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S UTC")


def _link_or_copy(source: Path, target: Path) -> None:
    make_dir(target.parent)
    if target.exists():
        return
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
        tmp.chmod(0o644)
    tmp.replace(target)


def publish(site: Site, now: dt.datetime) -> PublishResult:
    with site_lock(site.paths.root):
        return _publish(site, now)


def _publish(site: Site, now: dt.datetime) -> PublishResult:
    repo_dir = site.paths.repo
    make_dir(repo_dir)
    cache_path = repo_dir / CACHE_NAME
    cache: dict[str, dict[str, object]] = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    conf = site.config.repo
    suites = _newest(_scan(site, cache), conf.extra_packages)

    # The pool: the newest version of each package and up to keep_versions older ones.
    packages_texts: dict[str, bytes] = {}
    keep: set[Path] = set()
    for suite, packages in sorted(suites.items()):
        stanzas = []
        for _, versions in sorted(packages.items()):
            for deb in versions[: 1 + conf.keep_versions]:
                target = repo_dir / "pool" / suite / deb.path.name
                _link_or_copy(deb.path, target)
                keep.add(target)
            newest = versions[0]
            stanzas.append(_stanza(newest, f"pool/{suite}/{newest.path.name}"))
        packages_texts[suite] = "\n".join(stanzas).encode()
    removed = _prune_pool(repo_dir, keep)

    current = repo_dir / "dists"
    changed = _differs(current, packages_texts, conf.architectures, conf.valid_days, now)
    if changed:
        with signing.signing_key(site) as key:
            generation = _build_generation(site, key, packages_texts, now)
            _swap(repo_dir, generation)
            signing.export_public_key(key, repo_dir / KEYRING_NAME)
        _write_sources(site)
    atomic_write(cache_path, json.dumps(cache, sort_keys=True).encode())
    listing = {
        suite: [f"{name} {versions[0].version}" for name, versions in sorted(packages.items())]
        for suite, packages in sorted(suites.items())
    }
    return PublishResult(changed, listing, removed)


def _prune_pool(repo_dir: Path, keep: set[Path]) -> list[str]:
    removed = []
    pool = repo_dir / "pool"
    for path in sorted(pool.rglob("*.deb")) if pool.is_dir() else []:
        if path not in keep:
            path.unlink()
            removed.append(str(path.relative_to(repo_dir)))
    for directory in sorted(pool.iterdir()) if pool.is_dir() else []:
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    return removed


def _differs(
    current: Path, packages: dict[str, bytes], architectures: tuple[str, ...], valid_days: int, now: dt.datetime
) -> bool:
    """Whether a publish would change anything a client sees."""
    if not current.is_dir():
        return True
    suites_now = {p.name for p in current.iterdir() if p.is_dir()}
    if suites_now != set(packages):
        return True
    for suite, text in packages.items():
        release = current / suite / "Release"
        if not release.exists():
            return True
        fields = dict(line.split(": ", 1) for line in release.read_text().splitlines() if ": " in line)
        if fields.get("Architectures", "").split() != list(architectures):
            return True
        if bool(valid_days) != ("Valid-Until" in fields):
            return True
        if valid_days:
            until = dt.datetime.strptime(fields["Valid-Until"], "%a, %d %b %Y %H:%M:%S UTC").replace(tzinfo=dt.UTC)
            # Re-sign once half the validity has passed, long before apt would refuse.
            if until - now < dt.timedelta(days=valid_days) / 2:
                return True
        for arch in architectures:
            index = current / suite / "main" / f"binary-{arch}" / "Packages"
            if not index.exists() or index.read_bytes() != text:
                return True
    return False


def _build_generation(site: Site, key: signing.SigningKey, packages: dict[str, bytes], now: dt.datetime) -> Path:
    repo_dir = site.paths.repo
    generations = repo_dir / GENERATIONS
    make_dir(generations)
    name = now.strftime("%Y%m%dT%H%M%S%fZ")
    generation = generations / name
    if generation.exists():
        shutil.rmtree(generation)
    previous = (repo_dir / "dists").resolve() if (repo_dir / "dists").is_symlink() else None
    try:
        for suite, text in sorted(packages.items()):
            suite_dir = generation / "dists" / suite
            files = _indexes(text, site.config.repo.architectures)
            for index in files:
                atomic_write_mkdir(suite_dir / index.path, index.data)
                # By-hash copies, so that a client holding an older InRelease still finds its indexes.
                for algorithm in ("SHA256", "SHA512"):
                    digest = hashlib.new(algorithm.lower(), index.data).hexdigest()
                    by_hash = suite_dir / Path(index.path).parent / "by-hash" / algorithm / digest
                    atomic_write_mkdir(by_hash, index.data)
            if previous is not None:
                _carry_by_hash(previous / suite, suite_dir)
            release = _release(site, suite, files, now)
            inrelease, detached = signing.sign_release(key, release)
            atomic_write(suite_dir / "Release", release)
            atomic_write(suite_dir / "InRelease", inrelease)
            atomic_write(suite_dir / "Release.gpg", detached)
    except OSError as exc:
        shutil.rmtree(generation, ignore_errors=True)
        raise describe_os_error(exc, generation) from exc
    except BaseException:
        shutil.rmtree(generation, ignore_errors=True)
        raise
    return generation


def _carry_by_hash(old_suite: Path, new_suite: Path) -> None:
    """Keep the previous generation's by-hash files (one generation back, no further)."""
    if not old_suite.is_dir():
        return
    for path in old_suite.glob("main/binary-*/*"):
        if path.is_file() and path.name.startswith("Packages"):
            relative = path.relative_to(old_suite)
            for algorithm in ("SHA256", "SHA512"):
                digest = hashlib.new(algorithm.lower(), path.read_bytes()).hexdigest()
                target = new_suite / relative.parent / "by-hash" / algorithm / digest
                if not target.exists():
                    atomic_write_mkdir(target, path.read_bytes())


def atomic_write_mkdir(path: Path, data: bytes) -> None:
    make_dir(path.parent)
    atomic_write(path, data)


def _swap(repo_dir: Path, generation: Path) -> None:
    """Point repo/dists at the new generation in one rename; drop generations before the previous one."""
    link = repo_dir / "dists"
    if link.exists() and not link.is_symlink():
        raise MadashError(f"{link} is not madash's", hint="move it aside; madash keeps dists/ as a symlink")
    previous = link.resolve().parent if link.is_symlink() else None
    tmp = repo_dir / ".dists.new"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(generation.relative_to(repo_dir) / "dists")
    tmp.replace(link)
    for old in (repo_dir / GENERATIONS).iterdir():
        if old not in (generation, previous):
            shutil.rmtree(old, ignore_errors=True)


def _write_sources(site: Site) -> None:
    """repo/sources/HOST.sources: what each host's apt needs, also shipped in its package."""
    sources_dir = site.paths.repo / "sources"
    make_dir(sources_dir)
    for host in sorted(site.config.hosts):
        atomic_write(sources_dir / f"{host}.sources", sources_entry(site, host).encode())


APT_KEYRING = "/etc/apt/keyrings/madash.gpg"


def sources_entry(site: Site, host: str) -> str:
    url = site.config.repo.url or f"file://{site.paths.repo}"
    return render(
        "conf/apt/madash.sources.j2",
        {
            "site_name": site.config.site.name,
            "url": url,
            "suites": [suite_of_host(host), SHARED],
            "keyring": APT_KEYRING,
        },
    )
