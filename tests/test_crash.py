"""kill -9 of `client --all` and `repo`, of the parent alone and of the whole process group, at several moments.

Afterwards the site must not be stuck or dirty: `revoke` runs at once (no process
holds the lock, and none of the killed command's processes lives on), no key
material is left outside the site (the command's TMPDIR stays empty, nothing new in
/dev/shm), every certificate in pki/clients/ is in the index, and the next
`client --all` and `repo` succeed and leave no temporary file in dist/, pki/ or the
scratch space.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from madash import fsutil
from madash.bootstrap import init_site
from madash.errors import MadashError
from madash.pki import store
from madash.pki.index import Kind, load_index
from madash.site.config import load_site
from tests.conftest import NOW

pytestmark = pytest.mark.crash

HOSTS = 30  # enough that `client --all --jobs 2` runs for about a second on two cores
FEATURES: tuple[list[str], ...] = (["smart"], ["docker", "internet"], ["vm"], [])
Moment = float | str  # seconds after the start, or the name of a WHEN condition


def _any(directory: Path, pattern: str) -> bool:
    return directory.is_dir() and any(directory.glob(pattern))


# Moments named by what the command has done so far.
WHEN: dict[str, Callable[[Path], bool]] = {
    "pending": lambda site: _any(site / "pki", ".pending-*/clients/*"),
    "first-certificate": lambda site: _any(site / "pki" / "clients", "*"),
    "first-package": lambda site: _any(site / "dist", "madash-client-*.deb"),
    "scratch": lambda site: _any(site / ".madash-work", "pid-*/*"),
    "first-generation": lambda site: _any(site / "repo" / ".suites", "*/*"),
    "pool": lambda site: _any(site / "repo" / "pool", "*/*.deb"),
}


def env(tmp: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith("MADASH_")}
    values["TMPDIR"] = str(tmp)
    return values


def madash(site: Path, tmp: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "madash.cli", "--site", str(site), *args],
        capture_output=True, text=True, env=env(tmp), timeout=timeout, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site of HOSTS hosts in madash.toml, none baked yet (no certificates)."""
    root = tmp_path_factory.mktemp("crash") / "site"
    init_site(root, ["127.0.0.1"], "crash", force=False, ca_passphrase=None, now=NOW)
    tables = [f"\n[hosts.h{i:02d}]\nfeatures = {json.dumps(FEATURES[i % len(FEATURES)])}\n" for i in range(HOSTS)]
    with (root / "madash.toml").open("a") as config:
        config.write("".join(tables))
    return root


@pytest.fixture(scope="module")
def baked(fresh: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same site with every host baked and the server package: what `repo` publishes."""
    root = tmp_path_factory.mktemp("baked") / "site"
    shutil.copytree(fresh, root, symlinks=True)
    tmp = tmp_path_factory.mktemp("baked-tmp")
    for args in (["client", "--all", "--jobs", "2"], ["server"]):
        result = madash(root, tmp, *args)
        assert result.returncode == 0, result.stderr
    return root


def run_and_kill(site: Path, tmp: Path, args: list[str], moment: Moment, group: bool) -> None:
    """Start madash-build in a session of its own and SIGKILL it (or its group) at moment."""
    process = subprocess.Popen(
        [sys.executable, "-m", "madash.cli", "--site", str(site), *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(tmp), start_new_session=True,
    )  # fmt: skip
    try:
        started = time.monotonic()
        while process.poll() is None and time.monotonic() - started < 10:
            if (time.monotonic() - started >= moment) if isinstance(moment, float) else WHEN[moment](site):
                break
            time.sleep(0.005)
        if os.environ.get("CRASH_DEBUG"):
            print(
                moment,
                f"{time.monotonic() - started:.2f}s",
                sorted(
                    str(p.relative_to(site))
                    for p in site.rglob("*")
                    if p.parts[-2:-1] != ("dists",) and ".suites" not in p.parts
                )[-12:],
            )
        if process.poll() is None:  # else it finished first: the aftermath must hold all the same
            (os.killpg if group else os.kill)(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        # Nothing of the killed command may live on: a worker baking on would race the next command.
        deadline = time.monotonic() + 3
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _group_alive(process.pid), "a process of the killed command outlived it"
    finally:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def shm() -> set[str]:
    return set(os.listdir("/dev/shm"))


def certificates_in_index(site: Path) -> list[str]:
    """Certificate files of pki/clients/ the index does not name (should be none)."""
    index = json.loads((site / "pki" / "index.json").read_text())
    known = {(e["name"], int(e["serial"], 16))
             for e in index["certificates"] if e["kind"] == "client"}  # fmt: skip
    outside = []
    for path in sorted((site / "pki" / "clients").glob("*")):
        if path.suffix == ".crt":
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            if (path.stem, cert.serial_number) not in known:
                outside.append(path.name)
        elif path.suffix != ".key":
            outside.append(path.name)
    return outside


def leftovers(site: Path) -> list[str]:
    """Temporary files and scratch a command leaves behind."""
    found = []
    for directory in (site, site / "pki", site / "pki" / "clients", site / "dist"):
        found += [str(p.relative_to(site)) for p in directory.glob(".*") if p.name not in (".madash.lock",
                  ".madash-work", ".madash-repo-state.json")]  # fmt: skip
    found += [str(p.relative_to(site)) for p in (site / "dist").glob("*.partial")]
    work = site / ".madash-work"
    found += [str(p.relative_to(site)) for p in work.rglob("*") if p.is_file()] if work.is_dir() else []
    return found


def assert_pool_complete(site: Path) -> None:
    """Every package each suite's index names is in the pool."""
    for packages in (site / "repo" / "dists").glob("*/main/binary-amd64/Packages"):
        for line in packages.read_text().splitlines():
            if line.startswith("Filename: "):
                assert (site / "repo" / line.removeprefix("Filename: ")).is_file(), line


def check_aftermath(site: Path, tmp: Path, shm_before: set[str]) -> None:
    assert certificates_in_index(site) == []
    assert not any(tmp.iterdir()), f"the killed command left {sorted(os.listdir(tmp))} in its TMPDIR"
    new_shm = shm() - shm_before
    assert not [name for name in new_shm if not name.startswith("sem.")], new_shm

    started = time.monotonic()
    revoke = madash(site, tmp, "revoke", "h00", timeout=10)
    assert time.monotonic() - started < 10 and "waiting for another" not in revoke.stderr, revoke.stderr
    if revoke.returncode == 0:
        renew = madash(site, tmp, "renew", "h00")
        assert renew.returncode == 0, renew.stderr
    else:  # killed before the fleet's certificates were issued
        assert revoke.returncode == 2 and "unknown host" in revoke.stderr, revoke.stderr

    bake = madash(site, tmp, "client", "--all", "--jobs", "2")
    assert bake.returncode == 0, bake.stderr
    assert f"{HOSTS} hosts:" in bake.stdout and "0 failed" in bake.stdout, bake.stdout
    publish = madash(site, tmp, "repo")
    assert publish.returncode == 0, publish.stderr
    assert leftovers(site) == []
    assert certificates_in_index(site) == []
    assert_pool_complete(site)
    assert not any(tmp.iterdir()), sorted(os.listdir(tmp))
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert str(site) not in processes, "a process started for the site outlived its command"


# (moment, whole group?): every moment at least once, the parent alone where workers could outlive it.
# Ten cases of about 3.5 s each (most of it the next `client --all` and `repo`): some 40 s in all.
CLIENT_CASES: list[tuple[Moment, bool]] = [
    (0.2, False),  # starting up: the lock may not even be taken yet
    ("pending", False),  # certificates being written aside, the index not yet
    ("first-certificate", False),  # the index written, the files being moved into place
    ("first-certificate", True),
    ("first-package", True),  # workers baking
    (0.8, False),
]
REPO_CASES: list[tuple[Moment, bool]] = [
    (0.3, True),  # making the signing key, or signing
    ("first-generation", False),
    ("pool", False),  # suites signed, the pool being filled and swapped
    ("pool", True),
]


def _id(case: tuple[Moment, bool]) -> str:
    return f"{case[0]}-{'group' if case[1] else 'parent'}"


@pytest.mark.parametrize("case", CLIENT_CASES, ids=_id)
def test_kill_client_all(fresh: Path, tmp_path: Path, case: tuple[Moment, bool]) -> None:
    site, tmp = tmp_path / "site", tmp_path / "tmp"
    shutil.copytree(fresh, site, symlinks=True)
    tmp.mkdir()
    before = shm()
    run_and_kill(site, tmp, ["client", "--all", "--jobs", "2"], *case)
    check_aftermath(site, tmp, before)


@pytest.mark.parametrize("case", REPO_CASES, ids=_id)
def test_kill_repo(baked: Path, tmp_path: Path, case: tuple[Moment, bool]) -> None:
    site, tmp = tmp_path / "site", tmp_path / "tmp"
    shutil.copytree(baked, site, symlinks=True)
    tmp.mkdir()
    before = shm()
    run_and_kill(site, tmp, ["repo"], *case)
    check_aftermath(site, tmp, before)


# --- the same recoveries, deterministically (the kills above land where they land) ---


def test_pending_certificates_are_completed_once_the_index_names_them(
    site_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = load_site(site_dir)
    change = store.prepare_hosts(site, load_index(site.paths), ["a1", "b2"], lambda: None, NOW)
    with monkeypatch.context() as patch:  # killed right after the index was written
        patch.setattr(store, "_move_into_place", lambda paths, pending: None)
        store.commit(site, change)
    assert not list((site_dir / "pki" / "clients").iterdir())
    assert (site_dir / "pki" / f".pending-{change.index.crl_number}").is_dir()

    with fsutil.site_lock(site_dir):  # the next command
        pass
    assert sorted(p.name for p in (site_dir / "pki" / "clients").iterdir()) == ["a1.crt", "a1.key", "b2.crt", "b2.key"]
    assert not list((site_dir / "pki").glob(".pending-*"))
    assert certificates_in_index(site_dir) == []
    store.load_leaf(site.paths, load_index(site.paths), Kind.CLIENT, "a1", NOW)


def test_pending_certificates_the_index_never_named_are_dropped(
    site_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = load_site(site_dir)
    before = (site_dir / "pki" / "index.json").read_bytes()
    change = store.prepare_hosts(site, load_index(site.paths), ["a1"], lambda: None, NOW)
    real_write = fsutil.atomic_write

    def killed_at_the_crl(path: Path, data: bytes, mode: int = 0o644, *, sync: bool = True) -> None:
        if path == site.paths.crl:
            raise MadashError("killed")
        real_write(path, data, mode, sync=sync)

    with monkeypatch.context() as patch, pytest.raises(MadashError):
        patch.setattr(store, "atomic_write", killed_at_the_crl)
        store.commit(site, change)
    assert list((site_dir / "pki").glob(".pending-*/clients/a1.key"))

    with fsutil.site_lock(site_dir):
        pass
    assert not list((site_dir / "pki").glob(".pending-*"))
    assert not list((site_dir / "pki" / "clients").iterdir())
    assert (site_dir / "pki" / "index.json").read_bytes() == before


def test_the_next_lock_sweeps_what_a_killed_command_left(site_dir: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = [
        site_dir / "pki" / ".index.json.abcd1234.tmp",
        site_dir / "pki" / "clients" / ".h00.key.x_y0z9ab.tmp",
        site_dir / ".builds.json.qwertyui.tmp",
        site_dir / "dist" / ".probe-12345678",
        site_dir / ".madash-work" / f"pid-{dead.pid}" / "stage.abc" / "h00.deb",
    ]
    for path in left:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    (site_dir / ".init-abcdefgh" / "pki").mkdir(parents=True)
    keep = site_dir / "dist" / "notes.tmp"  # not a name madash makes: the admin's
    keep.write_text("mine\n")
    with fsutil.site_lock(site_dir):
        pass
    assert [p for p in left if p.exists()] == []
    assert not (site_dir / ".init-abcdefgh").exists() and not (site_dir / ".madash-work" / f"pid-{dead.pid}").exists()
    assert keep.exists()


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baked site with enough suites that `repo` builds them in two forked workers (one per
    generations.FORK_FROM suites, one per core)."""
    from madash.apt import generations

    hosts = 2 * generations.FORK_FROM + 2
    root = tmp_path_factory.mktemp("large") / "site"
    init_site(root, ["127.0.0.1"], "large", force=False, ca_passphrase=None, now=NOW)
    with (root / "madash.toml").open("a") as config:
        config.write("".join(f"\n[hosts.h{i:03d}]\nfeatures = []\n" for i in range(hosts)))
    tmp = tmp_path_factory.mktemp("large-tmp")
    for args in (["client", "--all", "--jobs", "2"], ["server"]):
        result = madash(root, tmp, *args, timeout=300)
        assert result.returncode == 0, result.stderr
    return root


def _repo_files(site: Path) -> dict[str, int]:
    return {str(p.relative_to(site)): p.lstat().st_size for p in (site / "repo").rglob("*")}


@pytest.mark.parametrize("group", [False, True], ids=["parent", "group"])
def test_kill_a_publish_in_forked_workers(large: Path, tmp_path: Path, group: bool) -> None:
    """Killed while its forked workers build the suites (a generation exists only once a worker
    has begun one): none of them writes another byte once the command is dead (without
    PR_SET_PDEATHSIG they would finish the suites already queued to them, into a site the next
    command then holds), nothing is left locked or half-written, and the next `repo` publishes
    every suite."""
    site, tmp = tmp_path / "site", tmp_path / "tmp"
    shutil.copytree(large, site, symlinks=True)
    tmp.mkdir()
    before = shm()
    process = subprocess.Popen(
        [sys.executable, "-m", "madash.cli", "--site", str(site), "repo"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(tmp), start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not WHEN["first-generation"](site):
            assert process.poll() is None and time.monotonic() < deadline, "no generation was begun"
            time.sleep(0.002)
        (os.killpg if group else os.kill)(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        at_death = _repo_files(site)
        deadline = time.monotonic() + 3
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _group_alive(process.pid), "a worker of the killed publish outlived it"
        assert _repo_files(site) == at_death, "a worker went on writing after the command was killed"
    finally:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
    assert not any(tmp.iterdir()), f"the killed command left {sorted(os.listdir(tmp))} in its TMPDIR"
    assert not [name for name in shm() - before if not name.startswith("sem.")]
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert str(site) not in processes, "a worker of the killed publish outlived it"
    publish = madash(site, tmp, "repo", timeout=120)
    assert publish.returncode == 0, publish.stderr
    assert leftovers(site) == []
    hosts = {p.name.split("_")[0].removeprefix("madash-client-") for p in (site / "dist").glob("madash-client-*.deb")}
    assert len(hosts) >= 128 and {f"host-{host}" for host in hosts} <= {
        p.name for p in (site / "repo" / "dists").iterdir()
    }
    assert_pool_complete(site)
