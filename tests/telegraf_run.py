"""Running real Telegraf on madash's rendered configurations, for tests/test_telegraf_real.py.

A host's files are laid out as its package installs them (/usr/share/PACKAGE,
/var/lib/PACKAGE and /etc/madash, from the .deb itself), below a per-host directory instead of /,
and Telegraf is started with the ExecStart of the package's own drop-in, the
paths moved the same way, and the environment systemd would give it (the
package's env file). The DNS target of the internet probes is Debian's dnsmasq.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from madash.deb.reader import read_deb
from madash.packages.client import DROPIN
from madash.packages.telegraf import VERSION_DROPIN
from tests.servers import ServerError

ETC = "/etc/madash"
# Telegraf's log lines: "2026-12-02T12:24:35Z E! [inputs.docker] Error in plugin: ...".
LEVEL = re.compile(r"^\S+ ([EWID])! (.*)$")


@dataclass(frozen=True)
class HostFiles:
    """One host's installed files: telegraf's argv (from the drop-in) and its environment (the env file)."""

    name: str
    root: Path
    argv: tuple[str, ...]
    env: dict[str, str]


def install_host(deb: Path, name: str, root: Path) -> HostFiles:
    """Unpack the package's own trees below ``root`` and point every path in them there.

    The drop-in's [Service] lines are applied as systemd would: EnvironmentFile= is read
    (a leading '-' makes it optional), LoadCredential=NAME:PATH is copied into a directory
    of credentials named by $CREDENTIALS_DIRECTORY, and ExecStart= gives the command line.
    """
    contents = read_deb(deb)
    package = contents.control["Package"]
    trees = (ETC, f"/usr/share/{package}", f"/var/lib/{package}")

    def moved(text: str) -> str:
        for tree in trees:
            text = text.replace(f"{tree}/", f"{root}{tree}/").replace(f"{tree} ", f"{root}{tree} ")
        return text

    for path, member in sorted(contents.members.items()):
        if not path.startswith(tuple(f"{tree}/" for tree in trees)) and path not in trees:
            continue
        target = Path(f"{root}{path}")
        if member.data is None:
            target.mkdir(parents=True, exist_ok=True)
            continue
        data = member.data
        if path.endswith(".conf"):
            data = moved(data.decode()).encode()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(member.mode & 0o777)
    dropin = moved((contents.members[DROPIN].data or b"").decode())
    # The version drop-in's Environment= (one plain NAME=VALUE word, as telegraf.version_dropin writes it).
    dropin += "\n" + (contents.members[VERSION_DROPIN].data or b"").decode()
    argv: list[str] = []
    env: dict[str, str] = {}
    for line in dropin.splitlines():
        key, _, value = line.partition("=")
        if key == "ExecStart" and value:
            assert not argv, f"two ExecStart lines:\n{dropin}"
            argv = value.split()
        elif key == "Environment":
            variable, _, setting = value.partition("=")
            env[variable] = setting
        elif key == "EnvironmentFile":
            env_file = Path(value.removeprefix("-"))
            if env_file.exists() or not value.startswith("-"):
                lines = env_file.read_text().splitlines()
                pairs = (line.partition("=") for line in lines if "=" in line and not line.startswith("#"))
                env.update((name, setting) for name, _, setting in pairs)
        elif key == "LoadCredential":
            credential, _, source = value.partition(":")
            credentials = root / "credentials"
            credentials.mkdir(exist_ok=True)
            shutil.copyfile(source, credentials / credential)
            (credentials / credential).chmod(0o400)
            env["CREDENTIALS_DIRECTORY"] = str(credentials)
    assert argv, dropin
    # $TELEGRAF_OPTS comes from /etc/default/telegraf, which InfluxData's package creates empty.
    argv = [word for word in argv if word != "$TELEGRAF_OPTS"]
    return HostFiles(name, root, tuple(argv[1:]), env)


def telegraf_env(extra: dict[str, str]) -> dict[str, str]:
    """What systemd gives the service: a plain PATH and the unit's EnvironmentFile, nothing of the test's."""
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", **extra}


# diskio names each disk from udev's database and warns once per disk when there is none, as in
# containers and on this kind of test machine; every real Debian host has one. No option avoids the
# lookup, so the warning is the machine's, not the configuration's, when (and only when) udev has no data.
NO_UDEV_DATA = not Path("/run/udev/data").is_dir() and not Path("/dev/.udev/db").is_dir()
NO_UDEV_WARNING = 'W! [inputs.diskio] Unable to gather disk name for "'


# Lines no single configuration can avoid on both tested versions, each accepted on its version only:
# - 1.32 warns when inputs.net's ignore_protocol_stats is false or absent, 1.37+ whenever it is set
#   (1.45 refuses it): madash leaves it out, as the newer versions want, and drops the interface=all
#   protocol counters 1.32 then writes with tagdrop;
# - 1.32 reports docker's deprecated perdevice, which defaults to true there; setting it false
#   silences 1.32, but 1.39 refuses the unknown field;
# - 1.38+ prints its strict-env-handling notice at every start unless a flag chooses, and 1.32
#   refuses both flags; madash's configuration works either way (its one ${...} is a whole string).
KNOWN: dict[str, tuple[str, ...]] = {
    "1.32.3": (
        'Value "false" for option "ignore_protocol_stats" of plugin "inputs.net" deprecated',
        'Option "perdevice" of plugin "inputs.docker" deprecated',
        "Deprecated inputs: 0 and ",  # the count of the two above: no deprecated plugin, only those options
    ),
    "1.39.3": ("W! Strict environment variable handling ",),
}


def problems(log: str, *, version: str, allowed_inputs: Iterable[str] = ()) -> list[str]:
    """Every E! and W! line, and every line saying 'deprecat', except those of ``allowed_inputs``' own
    plugins and the version's KNOWN lines."""
    own = tuple(f"[inputs.{name}]" for name in allowed_inputs)
    found = []
    for line in log.splitlines():
        match = LEVEL.match(line)
        bad = (match is not None and match.group(1) in "EW") or "deprecat" in line.lower()
        if NO_UDEV_DATA and NO_UDEV_WARNING in line:
            continue
        if any(known in line for known in KNOWN[version]):
            continue
        if bad and not (match is not None and match.group(2).startswith(own)):
            found.append(line)
    return found


def run(
    binary: Path, args: Iterable[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, env=telegraf_env(env), timeout=timeout, check=False
    )


class Daemon:
    """Telegraf without --once, as the service runs it; its log goes to a file."""

    def __init__(self, binary: Path, host: HostFiles, log_path: Path) -> None:
        self.log_path = log_path
        self.argv = [str(binary), *host.argv]
        self.env = telegraf_env(host.env)
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    def __enter__(self) -> Self:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        return self

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, as systemd stops it; the exit status, or None if it had to be killed."""
        if self.process is None:
            return self.returncode
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self.process = None
                return None
        self.returncode = self.process.returncode
        self.process = None
        return self.returncode

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


class Dnsmasq:
    """Debian's dnsmasq answering A queries for ``domain`` on port 53 of a loopback address of its own.

    Telegraf's dns_query sends to port 53 of each server (madash's template says so), so the server
    needs that port; an address of 127.0.0.0/8 other than 127.0.0.1, picked at random, keeps it out of
    the way of anything else on the machine. It forwards nothing (no upstream servers).
    """

    def __init__(self, tmp_dir: Path, domain: str, answer: str = "127.0.0.1") -> None:
        self.log_path = tmp_dir / "dnsmasq.log"
        self.tmp_dir = tmp_dir
        self.domain = domain
        self.answer = answer
        self.address = ""
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        for _ in range(5):
            self.address = f"127.53.{random.randint(1, 254)}.{random.randint(1, 254)}"  # a free address, not a secret
            with self.log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    [dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                     "--bind-interfaces", f"--listen-address={self.address}", "--port=53", "--user=root",
                     "--pid-file=", "--log-facility=-", f"--address=/{self.domain}/{self.answer}"],
                    stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
            if self._answers():
                return self
            self._stop()
        raise ServerError(f"dnsmasq did not answer: {self.log_path.read_text(errors='replace')}")

    def _answers(self) -> bool:
        labels = b"".join(bytes([len(part)]) + part.encode() for part in self.domain.split("."))
        query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + labels + b"\x00\x00\x01\x00\x01"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.process is not None and self.process.poll() is None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(0.5)
                try:
                    sock.sendto(query, (self.address, 53))
                    return sock.recv(512)[:2] == b"\x12\x34"
                except OSError:
                    time.sleep(0.1)
        return False

    def _stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop()


def unix_socket_answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


def tcp_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def smart_disks() -> list[str]:
    """The disks smartctl finds here (none in most VMs and containers)."""
    smartctl = shutil.which("smartctl") or "/usr/sbin/smartctl"
    if not os.path.exists(smartctl):
        return []
    scan = subprocess.run([smartctl, "--scan"], capture_output=True, text=True, check=False)
    return [line.split()[0] for line in scan.stdout.splitlines() if line.startswith("/dev/")]
