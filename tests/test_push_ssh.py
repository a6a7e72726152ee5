"""`repo --push` over ssh to 127.0.0.1, and killed with SIGKILL at several moments: apt always verifies DEST.

An sshd of the test's own (tests/sshd.py) on a free loopback port; rsync reaches it through
$RSYNC_RSH, as an admin's own ssh configuration would. After each kill apt (tests/apt_view.py)
must see every suite whole, and the suites the kill's moment implies: the old state before the
suites switch, the new one after; the last run completes and leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from madash.apt import publish as repo
from madash.packages.aptsource import SERVER_SUITE
from madash.site.config import load_site
from tests.conftest import NOW, Result, assert_one_line_error, bake_host, set_repo
from tests.sshd import ALIAS, Sshd
from tests.test_push import expected, view
from tests.test_repo import bake_server

pytestmark = pytest.mark.network
Madash = Callable[..., Result]
REAL_RSYNC = "/usr/bin/rsync"
# The wrapper madash-build finds on PATH: it counts its calls (1 reads DEST, 2 copies the packages,
# 3 switches the suites, 4 deletes) and, as the test's files say, kills madash-build before a call,
# runs the real rsync at a crawl, or has the far side's rsync wait half a second after each symlink
# it makes (strace's fault injection), so that the test can kill it in the middle of a call.
WRAPPER = f"""#!/bin/sh
dir=$(dirname "$0")
n=$(( $(cat "$dir/calls") + 1 ))
echo "$n" >"$dir/calls"
if [ "$n" = "$(cat "$dir/kill-before")" ]; then
    kill -9 "$PPID"
    exit 137
fi
if [ "$n" = "$(cat "$dir/slow")" ]; then
    exec {REAL_RSYNC} --bwlimit=4 "$@"
fi
if [ "$n" = "$(cat "$dir/slow-links")" ]; then
    exec {REAL_RSYNC} --rsync-path="$dir/slow-links-rsync" "$@"
fi
exec {REAL_RSYNC} "$@"
"""
SLOW_LINKS = f"""#!/bin/sh
exec strace -f -qq -o /dev/null -e trace=symlink,symlinkat -e inject=symlink,symlinkat:delay_exit=500000 \\
    {REAL_RSYNC} "$@"
"""


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    with Sshd(tmp_path) as server:
        yield server


def baked(site_dir: Path, minutes: int) -> None:
    later = NOW + dt.timedelta(minutes=minutes)
    bake_host(site_dir, "laptop", "smart", *(["sensors"] if minutes else []), now=later)
    bake_host(site_dir, "web", "docker", *(["sensors"] if minutes else []), now=later)
    if not minutes:
        bake_server(site_dir)
    repo.publish(load_site(site_dir), dt.datetime.now(dt.UTC))


def test_push_over_ssh(
    site_dir: Path, sshd: Sshd, madash: Madash, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    baked(site_dir, 0)
    monkeypatch.setenv("RSYNC_RSH", sshd.rsync_rsh)
    dest = tmp_path / "server" / "var/lib/madash/repo"
    result = madash("--site", site_dir, "repo", "--push", f"{ALIAS}:{dest}")
    assert result.code == 0, result
    # 3 packages, the keyring, and 6 files a suite (InRelease, Release, Release.gpg, Packages, .gz, .xz); by-hash
    # copies are hard links of the last three, made as such on the far side.
    assert "13 files copied, 2 suites switched (host-laptop, host-web)" in result.out, result.out
    assert view(site_dir, dest, tmp_path / "apt") == expected(site_dir)
    assert "Accepted publickey for root" in sshd.log_path.read_text()
    packages = (dest / "dists" / "host-laptop" / "main" / "binary-amd64" / "Packages").stat()
    assert packages.st_nlink == 3, "the by-hash copies stay hard links (SHA256, SHA512)"


def test_no_rsync_on_the_far_side(
    site_dir: Path, madash: Madash, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    baked(site_dir, 0)
    # What a server without rsync answers: its shell cannot find the program ssh asks it to run.
    with Sshd(tmp_path, extra="ForceCommand exec /nonexistent/rsync --server\n") as server:
        monkeypatch.setenv("RSYNC_RSH", server.rsync_rsh)
        result = madash("--site", site_dir, "repo", "--push", f"{ALIAS}:{tmp_path / 'dest'}")
    assert_one_line_error(
        result, 1, "cannot read madash-push-test:", "'ssh madash-push-test' logs in", "apt-get install rsync"
    )
    assert not (tmp_path / "dest").exists()


class Pusher:
    """`madash-build repo --push` as a process of its own, with the wrapper rsync first on PATH."""

    def __init__(self, site_dir: Path, sshd: Sshd, dest: Path, tmp_path: Path) -> None:
        self.site_dir, self.sshd, self.dest = site_dir, sshd, dest
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for name, script in (("rsync", WRAPPER), ("slow-links-rsync", SLOW_LINKS)):
            (self.bin / name).write_text(script)
            (self.bin / name).chmod(0o755)

    def start(self, *, kill_before: int = 0, slow: int = 0, slow_links: int = 0) -> subprocess.Popen[bytes]:
        values = (("calls", 0), ("kill-before", kill_before), ("slow", slow), ("slow-links", slow_links))
        for name, value in values:
            (self.bin / name).write_text(f"{value}\n")
        env = {
            "PATH": f"{self.bin}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.bin), "LANG": "C.UTF-8",
            "RSYNC_RSH": self.sshd.rsync_rsh,
        }  # fmt: skip
        return subprocess.Popen(
            [sys.executable, "-m", "madash.cli", "--site", str(self.site_dir), "repo", "--push",
             f"{ALIAS}:{self.dest}"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def settle(self, process: subprocess.Popen[bytes]) -> str:
        """Wait for madash-build's end and for the far side's rsync to notice; return madash-build's output."""
        output, _ = process.communicate(timeout=120)
        deadline = time.monotonic() + 20
        while self.sshd.sessions():
            assert time.monotonic() < deadline, "the far side's rsync outlived its connection"
            time.sleep(0.05)
        return output.decode()


def links(dists: Path) -> dict[str, str]:
    """suite → the generation dists/SUITE points at (a killed rsync may leave a temporary .SUITE.XXXX beside),
    for the suites a push carries (never the server's)."""
    names = [n for n in sorted(os.listdir(dists)) if not n.startswith(".") and n != SERVER_SUITE]
    return {name: os.readlink(dists / name) for name in names}


@pytest.mark.crash
def test_killed_at_several_moments_the_destination_always_verifies(
    site_dir: Path, sshd: Sshd, madash: Madash, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_repo(site_dir, keep_versions=0)  # the old packages leave the pool: the last run must delete them
    baked(site_dir, 0)
    dest = tmp_path / "server" / "repo"
    monkeypatch.setenv("RSYNC_RSH", sshd.rsync_rsh)
    assert madash("--site", site_dir, "repo", "--push", f"{ALIAS}:{dest}").code == 0
    old, old_links, old_pool = expected(site_dir), links(dest / "dists"), sorted(dest.glob("pool/*/*.deb"))
    assert view(site_dir, dest, tmp_path / "apt-0") == old

    baked(site_dir, 1)  # every suite changes
    new, new_links = expected(site_dir), links(site_dir / "repo" / "dists")
    assert set(new) == set(old) and all(new[p] != old[p] for p in new if p != "madash-server")
    pusher = Pusher(site_dir, sshd, dest, tmp_path)

    # 1. In the middle of the copy of the new generations and packages.
    process = pusher.start(slow=2)
    generations = [dest / ".suites" / Path(target).relative_to("../.suites") for target in new_links.values()]
    deadline = time.monotonic() + 60
    while not any(g.is_dir() and any(g.rglob("Packages*")) for g in generations):
        assert process.poll() is None and time.monotonic() < deadline, pusher.settle(process)
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    pusher.settle(process)
    assert links(dest / "dists") == old_links
    missing = [p for p in expected(site_dir) if not list(dest.glob(f"pool/*/{p}_{new[p][0]}_all.deb"))]
    assert missing, "the copy was meant to be killed before its end"
    assert view(site_dir, dest, tmp_path / "apt-1") == old

    # 2. After the copy, before the suites switch.
    process = pusher.start(kill_before=3)
    assert process.wait(120) == -signal.SIGKILL, pusher.settle(process)
    pusher.settle(process)
    assert links(dest / "dists") == old_links
    assert all(list(dest.glob(f"pool/*/{p}_{v}_all.deb")) for p, (v, _) in new.items())
    assert view(site_dir, dest, tmp_path / "apt-2") == old

    # 3. In the middle of the switch: one suite switched, the other not, each whole.
    process = pusher.start(slow_links=3)
    while links(dest / "dists") == old_links:
        assert process.poll() is None and time.monotonic() < deadline + 60, pusher.settle(process)
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    pusher.settle(process)
    now_links = links(dest / "dists")
    switched = {suite for suite, target in now_links.items() if target != old_links[suite]}
    assert switched and switched != {s for s in new_links if new_links[s] != old_links[s]}, now_links
    assert all(now_links[suite] in (old_links[suite], new_links[suite]) for suite in now_links)
    mixed = {p: new[p] if f"host-{p.removeprefix('madash-client-')}" in switched else old[p] for p in new}
    assert view(site_dir, dest, tmp_path / "apt-3") == mixed

    # 4. After the switch, before the old files go.
    process = pusher.start(kill_before=4)
    process.wait(120)
    pusher.settle(process)
    assert links(dest / "dists") == new_links
    assert all(path.exists() for path in old_pool), "deleted only once the new suites are in"
    assert view(site_dir, dest, tmp_path / "apt-4") == new

    # 5. A run to the end.
    process = pusher.start()
    output = pusher.settle(process)
    assert process.returncode == 0, output
    assert view(site_dir, dest, tmp_path / "apt-5") == new
    assert not any(path.exists() for path in old_pool if path.name.split("_")[0] != "madash-server")
    leftovers = [p for p in dest.rglob(".*") if p != dest / ".suites"]
    assert not leftovers, "rsync's temporaries of the killed runs are gone"
    source = site_dir / "repo"
    for suite in new_links:
        assert sorted(os.listdir(dest / ".suites" / suite)) == sorted(os.listdir(source / ".suites" / suite))
