"""Debian 12 booted with systemd as PID 1 in systemd-nspawn containers, on a private veth network.

``scripts/make-chroot --boot`` keeps a bootable bookworm tarball in the cache; each ``Machine`` unpacks
a fresh copy and boots it with ``systemd-nspawn --register=no --keep-unit --boot`` (no machined, no
scope of its own: the container lives and dies with the test's process). Commands run inside with
``nsenter --all`` into the container's init, so they see its mounts, its network and its systemd.

The network is the test's own: ``Network`` makes one network namespace per machine and a veth pair
between them (10.77.0.1 on the server's side, 10.77.0.2 on the client's), and each container is given
its namespace with ``--network-namespace-path``. There is no route anywhere else, so nothing in a
container can reach the machine's network or the internet.

Cleaning up, also when a test fails or the run is killed: fixtures power off, stop nspawn and remove
directories and namespaces in finalizers; nspawn gets SIGTERM (and so halts its container) when the
test process dies; ``remove_stale`` removes what killed runs left (their pid is in every name).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from tests.chroot import ChrootCommandError, default_parent, remove_stale

__all__ = [
    "CLIENT_ADDRESS",
    "SERVER_ADDRESS",
    "Machine",
    "Network",
    "boot_network",
    "boot_tarball",
    "client_machine",
    "remove_stale_machines",
    "server_machine",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
MAKE_CHROOT = REPO_ROOT / "scripts" / "make-chroot"
SERVER_ADDRESS = "10.77.0.1"
CLIENT_ADDRESS = "10.77.0.2"
_PREFIX = "madash-boot-"
_NETNS_DIR = Path("/run/netns")
_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "DEBIAN_FRONTEND": "noninteractive",
}
_HOSTS = """\
127.0.0.1\tlocalhost
127.0.1.1\t{name}
::1\tlocalhost ip6-localhost ip6-loopback
"""
_PR_SET_PDEATHSIG = 1
# A boot takes seconds; 60 s were exceeded once while the 2 cores ran other suites at a load average of 7.
BOOT_TIMEOUT = 120.0
POWEROFF_TIMEOUT = 30.0


def _die_with_parent() -> None:
    """In nspawn's child before exec: SIGTERM when the test process dies, so nspawn halts its container."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _run(argv: Sequence[str], check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(argv), capture_output=True, text=True, errors="replace", timeout=timeout, check=False, env=_ENV
    )
    if check and result.returncode != 0:
        raise ChrootCommandError(result.returncode, list(argv), result.stdout, result.stderr)
    return result


@dataclass(frozen=True)
class Network:
    """Two network namespaces joined by a veth pair: the server's and the client's, nothing else."""

    server_ns: str
    client_ns: str

    @classmethod
    def make(cls) -> Network:
        tag = f"{_PREFIX}{os.getpid()}-{time.monotonic_ns() % 10**6}"
        network = cls(f"{tag}-server", f"{tag}-client")
        try:
            for name in (network.server_ns, network.client_ns):
                _run(["ip", "netns", "add", name])
                _run(["ip", "-n", name, "link", "set", "lo", "up"])
            # Made directly inside the two namespaces: the host's own namespace never sees the pair.
            _run(["ip", "link", "add", "eth0", "netns", network.server_ns, "type", "veth",
                  "peer", "name", "eth0", "netns", network.client_ns])  # fmt: skip
            for name, address in ((network.server_ns, SERVER_ADDRESS), (network.client_ns, CLIENT_ADDRESS)):
                _run(["ip", "-n", name, "addr", "add", f"{address}/24", "dev", "eth0"])
                _run(["ip", "-n", name, "link", "set", "eth0", "up"])
        except BaseException:
            network.remove()
            raise
        return network

    def remove(self) -> None:
        for name in (self.server_ns, self.client_ns):
            if (_NETNS_DIR / name).exists():
                _run(["ip", "netns", "delete", name], check=False)


class Machine:
    """One booted container, unpacked from ``tarball`` and joined to the network namespace ``netns``."""

    def __init__(self, tarball: Path, name: str, netns: str, *, log_dir: Path) -> None:
        self.name = name
        self.root = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-{name}-", dir=default_parent()))
        self.log_path = log_dir / f"{name}.console.log"
        self._log: IO[bytes] | None = None
        self._nspawn: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.boot_seconds = 0.0
        try:
            _run(["tar", "--extract", f"--file={tarball}", f"--directory={self.root}", "--numeric-owner",
                  "--xattrs", "--xattrs-include=*"], timeout=300)  # fmt: skip
            self.root.chmod(0o755)
            # mmdebstrap copied the build machine's names; a machine resolves its own, as an installed one
            # does (sudo looks its host name up at every command).
            (self.root / "etc/hostname").write_text(f"{name}\n")
            (self.root / "etc/hosts").write_text(_HOSTS.format(name=name))
            self._boot(netns)
        except BaseException:
            self.close()
            raise

    def _boot(self, netns: str) -> None:
        started = time.monotonic()
        self._log = self.log_path.open("wb")
        # --capability=CAP_IPC_LOCK: nspawn leaves it out of the container's bounding set, and without it
        # mlock() failed with EPERM here in every process systemd started, even within LimitMEMLOCK (Telegraf's
        # memguard then panics on the first secret). A real host's PID 1 holds it: so does this one.
        self._nspawn = subprocess.Popen(
            ["systemd-nspawn", "--capability=CAP_IPC_LOCK", "--register=no", "--keep-unit", "--boot",
             f"--directory={self.root}", f"--machine={self.name}",
             f"--network-namespace-path={_NETNS_DIR / netns}", "--console=pipe"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=_ENV,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        deadline = started + BOOT_TIMEOUT
        while not self.pid:
            self._check_nspawn()
            children = Path(f"/proc/{self._nspawn.pid}/task/{self._nspawn.pid}/children")
            with contextlib.suppress(FileNotFoundError):
                found = children.read_text().split()
                self.pid = int(found[0]) if found else 0
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: no init process after {BOOT_TIMEOUT} s\n{self.console()}")
            time.sleep(0.05)
        state = ""
        while state not in ("running", "degraded"):
            self._check_nspawn()
            # --wait returns once the boot is over; until systemd answers at all, try again.
            left = max(1.0, deadline - time.monotonic())
            state = self.run(["systemctl", "is-system-running", "--wait"], check=False, timeout=left).stdout.strip()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: system is {state!r} after {BOOT_TIMEOUT} s\n{self.console()}")
            if state not in ("running", "degraded"):
                time.sleep(0.2)
        self.boot_seconds = time.monotonic() - started
        self.state = state

    def _check_nspawn(self) -> None:
        if self._nspawn is None or self._nspawn.poll() is not None:
            raise RuntimeError(f"{self.name}: systemd-nspawn exited\n{self.console()}")

    def console(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])
        except FileNotFoundError:
            return "(no console log)"

    def run(
        self,
        argv: Sequence[str],
        check: bool = True,
        input: str | None = None,  # noqa: A002 - mirrors subprocess.run
        *,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` as root inside the machine (all its namespaces), with a clean environment."""
        if not self.pid:
            raise RuntimeError(f"{self.name} is not running")
        result = subprocess.run(
            ["nsenter", f"--target={self.pid}", "--all", "--", "/usr/bin/env", "-i",
             *(f"{key}={value}" for key, value in _ENV.items()), *argv],
            input=input, stdin=subprocess.DEVNULL if input is None else None, capture_output=True,
            encoding="utf-8", errors="replace", timeout=timeout, check=False,
        )  # fmt: skip
        completed = subprocess.CompletedProcess(list(argv), result.returncode, result.stdout, result.stderr)
        if check and completed.returncode != 0:
            raise ChrootCommandError(completed.returncode, list(argv), completed.stdout, completed.stderr)
        return completed

    def host_path(self, path: str) -> Path:
        """The host's path of the machine's /srv/...: the only tree tests copy into (/tmp is a tmpfs inside)."""
        if not path.startswith("/srv/") or ".." in path.split("/"):
            raise ValueError(f"copy into /srv only: {path!r}")
        return self.root / path.lstrip("/")

    def copy_in(self, source: Path, dest: str | None = None) -> str:
        """Copy a host file or directory under /srv (by default /srv/NAME), world-readable for apt's _apt."""
        target = dest or f"/srv/{source.name}"
        host = self.host_path(target)
        host.parent.mkdir(parents=True, exist_ok=True)
        if host.exists():
            shutil.rmtree(host) if host.is_dir() else host.unlink()
        if source.is_dir():
            shutil.copytree(source, host, symlinks=True)
            for directory, _, files in os.walk(host):
                os.chmod(directory, 0o755)
                for name in files:
                    if not os.path.islink(os.path.join(directory, name)):
                        os.chmod(os.path.join(directory, name), 0o644)
        else:
            shutil.copyfile(source, host)
            host.chmod(0o644)
        return target

    def write_text(self, path: str, text: str, mode: int = 0o644) -> None:
        """Write a root-owned file anywhere in the machine, through its own file system view."""
        self.run(["install", "-D", "-m", f"{mode:o}", "/dev/stdin", path], input=text)

    def read_text(self, path: str) -> str:
        return self.run(["cat", "--", path]).stdout

    def exists(self, path: str) -> bool:
        return self.run(["test", "-e", path], check=False).returncode == 0

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        """``systemctl show`` of these properties, as a dict."""
        out = self.run(["systemctl", "show", unit, *(f"--property={name}" for name in properties)]).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, unit: str, since: str | None = None) -> str:
        """The unit's journal, message text only (``since``: a cursor from ``cursor``)."""
        argv = ["journalctl", "--no-pager", "--output=cat", f"--unit={unit}"]
        return self.run([*argv, f"--after-cursor={since}"] if since else argv).stdout

    def cursor(self) -> str:
        """The journal's current position, to read only what comes after it."""
        out = self.run(["journalctl", "--no-pager", "--lines=1", "--show-cursor", "--quiet"]).stdout
        return out.rsplit("-- cursor: ", 1)[-1].strip()

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float, detail: Callable[[], str] = str) -> float:
        """Poll ``check()`` until it is true; return the seconds it took, or fail naming ``what`` and ``detail()``."""
        started = time.monotonic()
        while not check():
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{self.name}: {what} not within {timeout} s\n{detail()}")
            time.sleep(0.25)
        return time.monotonic() - started

    def poweroff(self) -> None:
        """Power the machine off and wait for nspawn to exit; SIGTERM, then SIGKILL, if it hangs."""
        if self._nspawn is None:
            return
        if self._nspawn.poll() is None and self.pid:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self.run(["systemctl", "poweroff", "--no-block"], check=False, timeout=10)
            for stop in (None, self._nspawn.terminate, self._nspawn.kill):
                if stop is not None:
                    stop()
                try:
                    self._nspawn.wait(POWEROFF_TIMEOUT)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._nspawn.wait()
        self._nspawn = None
        self.pid = 0

    def close(self) -> None:
        try:
            self.poweroff()
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
            # nspawn's mounts live in its own mount namespace, gone with it: only files are left.
            shutil.rmtree(self.root, ignore_errors=True)


def remove_stale_machines() -> None:
    """Machines and network namespaces of killed runs (the pid in their names is gone)."""
    remove_stale(prefix=_PREFIX)
    if not _NETNS_DIR.is_dir():
        return
    for entry in _NETNS_DIR.glob(_PREFIX + "*"):
        pid = entry.name.removeprefix(_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _run(["ip", "netns", "delete", entry.name], check=False)


@pytest.fixture(scope="module")
def boot_tarball() -> Path:
    """The cached bootable tarball, made by ``scripts/make-chroot --boot`` on first use."""
    if os.geteuid() != 0:
        pytest.fail("booted-container tests need root: run the suite with scripts/test")
    for tool in ("systemd-nspawn", "nsenter", "ip", "mmdebstrap"):
        if shutil.which(tool) is None:
            pytest.fail(f"booted-container tests need {tool}: run the suite with scripts/test")
    remove_stale_machines()
    made = subprocess.run([str(MAKE_CHROOT), "--boot"], capture_output=True, text=True, timeout=1800, check=False)
    if made.returncode != 0:
        pytest.fail(f"scripts/make-chroot --boot failed ({made.returncode}):\n{made.stderr[-3000:]}")
    return Path(made.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def boot_network() -> Iterator[Network]:
    """The server's and the client's network namespaces and the veth pair between them."""
    network = Network.make()
    try:
        yield network
    finally:
        network.remove()


def _machine(tarball: Path, name: str, netns: str, log_dir: Path) -> Iterator[Machine]:
    machine = Machine(tarball, name, netns, log_dir=log_dir)
    try:
        yield machine
    finally:
        machine.close()


@pytest.fixture(scope="module")
def server_machine(
    boot_tarball: Path, boot_network: Network, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Machine]:
    """The server machine, 10.77.0.1, booted; powered off and removed after the module."""
    yield from _machine(boot_tarball, "madash-server", boot_network.server_ns, tmp_path_factory.mktemp("server"))


@pytest.fixture(scope="module")
def client_machine(
    boot_tarball: Path, boot_network: Network, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Machine]:
    """The client machine, 10.77.0.2, booted; powered off and removed after the module."""
    yield from _machine(boot_tarball, "madash-client", boot_network.client_ns, tmp_path_factory.mktemp("client"))
