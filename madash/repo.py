"""`madash-build repo`: dist/ → a signed apt repository in repo/, one suite per host.

Layout: dists/shared and pool/shared hold the server, the toolkit and any
extra packages; dists/host-HOST and pool/host-HOST hold HOST's package and
nothing else, so a web server can authorise each host by its certificate name.
Every suite that changed gets a complete new generation built aside, and its
dists/SUITE symlink is swapped to it in one rename: a reader never sees a
Release that does not match its Packages. Unchanged suites are not touched, and
a publish that would change nothing changes nothing.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import lzma
import os
import shutil
import tarfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from debian_inspector.version import Version

from madash import signing
from madash.errors import MadashError, UsageError
from madash.fsutil import atomic_write, describe_os_error, make_dir, site_lock
from madash.render import render
from madash.site import RepoSection, Site

SHARED = "shared"
SHARED_PACKAGES = ("madash-server", "python3-madash", "python3-debian-inspector")
CLIENT_PREFIX = "madash-client-"
KEYRING_NAME = "madash-archive-keyring.gpg"
CACHE_NAME = ".madash-cache.json"
SUITES = ".suites"
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
    """The control paragraph of a .deb, via python-debian's ar reader.

    (Not debian.debfile: importing it costs 0.1 s, a fifth of what a one-host publish may take.)
    """
    from debian import arfile

    try:
        archive = arfile.ArFile(str(path))
        name = next(n for n in archive.getnames() if n.startswith("control.tar"))
        with tarfile.open(fileobj=io.BytesIO(archive.getmember(name).read())) as tar:
            info = next(m for m in tar.getmembers() if m.name.lstrip("./") == "control")
            member = tar.extractfile(info)
            if member is None:
                raise ValueError("control is not a file")
            return member.read().decode("utf-8").rstrip("\n")
    except (OSError, ValueError, KeyError, StopIteration, tarfile.TarError, arfile.ArError) as exc:
        raise UsageError(f"{path} is not a Debian package ({exc})", hint="remove it from dist/") from None


def _scan(site: Site, cache: dict[str, dict[str, object]]) -> list[Deb]:
    """Every .deb in dist/, read only when its size or mtime changed since the last publish."""
    dist = site.paths.dist
    if not dist.is_dir():
        raise UsageError(f"no packages to publish: {dist} does not exist", hint="bake some with 'madash-build client'")
    debs = []
    # scandir's entries carry their stat: a thousand packages cost one directory read.
    for entry in sorted(os.scandir(dist), key=lambda e: e.name):
        path = dist / entry.name
        if entry.name.startswith("."):
            continue  # a bake in progress
        if not entry.name.endswith(".deb") or not entry.is_file():
            raise UsageError(f"{path} is not a .deb", hint="dist/ holds only packages; move other files elsewhere")
        stat = entry.stat()
        key = entry.name
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
        # A 1 MiB dictionary: preset 6's 64 MiB only costs time on indexes this small.
        "Packages.xz": lzma.compress(
            packages_text, filters=[{"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": 1 << 20}]
        ),
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


def _fill_pool(repo_dir: Path, suites: dict[str, dict[str, list[Deb]]], keep_versions: int) -> set[str]:
    """Link (or copy) into pool/SUITE/ each package's newest and keep_versions older versions.

    Returns what the pool must keep, as "SUITE/FILE"; one directory read per suite
    rather than a stat per package.
    """
    keep: set[str] = set()
    for suite, packages in suites.items():
        pool = repo_dir / "pool" / suite
        pool.mkdir(parents=True, exist_ok=True)
        present = set(os.listdir(pool))
        for versions in packages.values():
            for deb in versions[: 1 + keep_versions]:
                name = deb.path.name
                keep.add(f"{suite}/{name}")
                if name not in present:
                    tmp = pool / f".{name}.tmp"
                    try:
                        os.link(deb.path, tmp)
                    except OSError:
                        shutil.copyfile(deb.path, tmp)
                        tmp.chmod(0o644)
                    tmp.replace(pool / name)
    return keep


def publish(site: Site, now: dt.datetime, jobs: int | None = None) -> PublishResult:
    with site_lock(site.paths.root):
        return _publish(site, now, jobs)


@dataclass(frozen=True)
class SuiteState:
    """What a suite's current generation was made from: enough to tell whether to rebuild it."""

    generation: str
    packages_sha256: str
    architectures: tuple[str, ...]
    valid_until: str  # "" when none


def _load_state(path: Path) -> tuple[dict[str, dict[str, object]], dict[str, SuiteState], str]:
    if not path.exists():
        return {}, {}, ""
    try:
        document = json.loads(path.read_text())
        suites = {
            name: SuiteState(s["generation"], s["packages_sha256"], tuple(s["architectures"]), s["valid_until"])
            for name, s in document["suites"].items()
        }
        return document["debs"], suites, document.get("sources", "")
    except (ValueError, KeyError, TypeError):
        return {}, {}, ""  # a damaged cache only costs re-reading the packages


def _publish(site: Site, now: dt.datetime, jobs: int | None) -> PublishResult:
    repo_dir = site.paths.repo
    state_path = repo_dir / CACHE_NAME
    cache, state, sources_state = _load_state(state_path)
    conf = site.config.repo
    suites = _newest(_scan(site, cache), conf.extra_packages)
    make_dir(repo_dir)  # only once there is something to publish

    packages_texts = {
        suite: "\n".join(
            _stanza(versions[0], f"pool/{suite}/{versions[0].path.name}") for _, versions in sorted(packages.items())
        ).encode()
        for suite, packages in sorted(suites.items())
    }

    published = set(os.listdir(repo_dir / "dists")) if (repo_dir / "dists").is_dir() else set()
    stale = [
        s for s, text in packages_texts.items() if s not in published or _needs_rebuild(state.get(s), text, conf, now)
    ]
    gone = sorted(set(state) - set(packages_texts))
    keep: set[str] = set()
    if stale or gone:
        with signing.signing_key(site) as key:
            # Signed first, aside: a wrong passphrase or a missing gpg stops us before anything
            # a client can see, the pool included, has changed.
            built = _build_suites(site, key, {s: packages_texts[s] for s in stale}, now, jobs)
        # Only the suites that change have anything to add to or remove from the pool.
        keep = _fill_pool(repo_dir, {s: suites[s] for s in stale}, conf.keep_versions)
        for suite, suite_state in built.items():
            _swap_suite(repo_dir, suite, suite_state.generation)
            state[suite] = suite_state
        for suite in gone:
            _drop_suite(repo_dir, suite)
            del state[suite]
        keyring = repo_dir / KEYRING_NAME
        public = signing.site_public_key(site)
        if not keyring.exists() or keyring.read_bytes() != public:
            atomic_write(keyring, public)
    sources_stamp = hashlib.sha256(
        repr((conf.url, sorted(site.config.hosts), site.config.site.name)).encode()
    ).hexdigest()
    if sources_stamp != sources_state or not (repo_dir / "sources").is_dir():
        _write_sources(site)
    removed = _prune_pool(repo_dir, keep, stale, gone)
    document = {
        "debs": cache,
        "suites": {name: vars(s) | {"architectures": list(s.architectures)} for name, s in state.items()},
        "sources": sources_stamp,
    }
    encoded = json.dumps(document, sort_keys=True).encode()
    if not state_path.exists() or state_path.read_bytes() != encoded:
        atomic_write(state_path, encoded)
    listing = {
        suite: [f"{name} {versions[0].version}" for name, versions in sorted(packages.items())]
        for suite, packages in sorted(suites.items())
    }
    return PublishResult(bool(stale or gone or removed), listing, removed)


def _prune_pool(repo_dir: Path, keep: set[str], changed: list[str], gone: list[str]) -> list[str]:
    """Remove what the pool no longer needs: older versions past keep_versions, hosts gone."""
    removed = []
    pool = repo_dir / "pool"
    for suite in sorted({*changed, *gone}):
        if not (pool / suite).is_dir():
            continue
        names = sorted(os.listdir(pool / suite))
        for name in names:
            if name.endswith(".deb") and f"{suite}/{name}" not in keep:
                os.unlink(pool / suite / name)
                removed.append(f"pool/{suite}/{name}")
        if not any(f"{suite}/{name}" in keep for name in names):
            shutil.rmtree(pool / suite)
    return removed


def _needs_rebuild(state: SuiteState | None, packages: bytes, conf: RepoSection, now: dt.datetime) -> bool:
    """Whether a suite's clients would see anything new: its packages, settings, or a due re-sign."""
    if state is None:
        return True
    if state.packages_sha256 != hashlib.sha256(packages).hexdigest() or state.architectures != conf.architectures:
        return True
    if bool(conf.valid_days) != bool(state.valid_until):
        return True
    if conf.valid_days:
        until = dt.datetime.strptime(state.valid_until, "%a, %d %b %Y %H:%M:%S UTC").replace(tzinfo=dt.UTC)
        # Re-sign once half the validity has passed, long before apt would refuse.
        return until - now < dt.timedelta(days=conf.valid_days) / 2
    return False


def _build_suites(
    site: Site, key: signing.SigningKey, packages: dict[str, bytes], now: dt.datetime, jobs: int | None
) -> dict[str, SuiteState]:
    """New generations of the given suites, built aside in parallel (gpg dominates: one process per signature)."""
    generation = now.strftime("%Y%m%dT%H%M%S%fZ")
    with ThreadPoolExecutor(jobs or os.cpu_count() or 1) as pool:
        futures = {
            suite: pool.submit(_build_suite, site, key, suite, text, generation, now)
            for suite, text in packages.items()
        }
        try:
            return {suite: future.result() for suite, future in futures.items()}
        except BaseException:
            # All or nothing: no half-built generation is left behind for a later publish to trip on.
            for future in futures.values():
                future.cancel()
            pool.shutdown(wait=True)
            for suite in futures:
                shutil.rmtree(site.paths.repo / SUITES / suite / generation, ignore_errors=True)
            raise


def _build_suite(
    site: Site, key: signing.SigningKey, suite: str, packages: bytes, generation: str, now: dt.datetime
) -> SuiteState:
    conf = site.config.repo
    target = site.paths.repo / SUITES / suite / generation
    if target.exists():
        shutil.rmtree(target)
    try:
        files = _indexes(packages, conf.architectures)
        written: dict[str, Path] = {}
        for index in files:
            # Identical indexes for every architecture: written once, hard-linked after.
            name = Path(index.path).name
            first = written.get(name)
            path = target / index.path
            path.parent.mkdir(parents=True, exist_ok=True)
            if first is None:
                _write_durably(path, index.data)
                written[name] = path
            else:
                os.link(first, path)
            # By-hash copies, so that a client holding the previous InRelease still finds its indexes.
            for algorithm in ("SHA256", "SHA512"):
                by_hash = path.parent / "by-hash" / algorithm / hashlib.new(algorithm.lower(), index.data).hexdigest()
                by_hash.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, by_hash)
        _carry_by_hash(site.paths.repo / "dists" / suite, target)
        release = _release(site, suite, files, now)
        inrelease, detached = signing.sign_release(key, release)
        _write_durably(target / "Release", release)
        _write_durably(target / "Release.gpg", detached)
        # InRelease last: it is what apt reads first.
        _write_durably(target / "InRelease", inrelease)
        _newer_than_before(site.paths.repo / "dists" / suite, target)
        for path in target.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        valid_until = _rfc2822(now + dt.timedelta(days=conf.valid_days)) if conf.valid_days else ""
        return SuiteState(generation, hashlib.sha256(packages).hexdigest(), conf.architectures, valid_until)
    except OSError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise describe_os_error(exc, target) from exc
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


def _newer_than_before(old_suite: Path, new_suite: Path) -> None:
    """Give the new Release files an mtime in a later second than the old ones'.

    Web servers answer If-Modified-Since with one-second Last-Modified times: a publish
    within the second of a client's last fetch would otherwise be answered 304, stale.
    """
    try:
        before = int((old_suite / "InRelease").stat().st_mtime)
    except FileNotFoundError:
        return
    stamp = max(int(time.time()), before + 1)
    for name in ("Release", "Release.gpg", "InRelease"):
        os.utime(new_suite / name, (stamp, stamp))


def _write_durably(path: Path, data: bytes) -> None:
    """Write and fsync: a generation is on disk before its suite's symlink points at it.
    (Only the new files: os.sync would flush every dirty page on the machine.)"""
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _carry_by_hash(old_suite: Path, new_suite: Path) -> None:
    """Keep the previous generation's indexes reachable by hash (one generation back)."""
    if not old_suite.is_dir():
        return
    for path in old_suite.glob("main/binary-*/Packages*"):
        relative = path.relative_to(old_suite)
        data = path.read_bytes()
        for algorithm in ("SHA256", "SHA512"):
            target = (
                new_suite / relative.parent / "by-hash" / algorithm / hashlib.new(algorithm.lower(), data).hexdigest()
            )
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)


def _swap_suite(repo_dir: Path, suite: str, generation: str) -> None:
    """Point dists/SUITE at its new generation in one rename; keep only the previous one besides.

    Each suite is swapped on its own, so a client reading one suite's Release and
    Packages always gets one generation's, and a publish touches only changed suites.
    """
    dists = repo_dir / "dists"
    make_dir(dists)
    link = dists / suite
    if link.exists() and not link.is_symlink():
        raise MadashError(f"{link} is not madash's", hint="move it aside; madash keeps dists/SUITE as symlinks")
    previous = link.resolve().name if link.is_symlink() else None
    tmp = dists / f".{suite}.new"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(Path("..") / SUITES / suite / generation)
    tmp.replace(link)
    for old in (repo_dir / SUITES / suite).iterdir():
        if old.name not in (generation, previous):
            shutil.rmtree(old, ignore_errors=True)


def _drop_suite(repo_dir: Path, suite: str) -> None:
    link = repo_dir / "dists" / suite
    if link.is_symlink():
        link.unlink()
    shutil.rmtree(repo_dir / SUITES / suite, ignore_errors=True)


def _write_sources(site: Site) -> None:
    """repo/sources/HOST.sources: what each host's apt needs, also shipped in its package."""
    sources_dir = site.paths.repo / "sources"
    make_dir(sources_dir)
    for host in sorted(site.config.hosts):
        path = sources_dir / f"{host}.sources"
        entry = sources_entry(site, host).encode()
        if not path.exists() or path.read_bytes() != entry:  # a thousand hosts: write only what changed
            atomic_write(path, entry)


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
