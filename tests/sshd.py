"""A real OpenSSH server on 127.0.0.1 for `repo --push` tests, with keys and configuration of its own.

The host key, the client key, sshd_config and the client's ssh_config all live in the test's
directory; the client reaches the server as the alias ``madash-push-test`` through
``ssh -F CONFIG``, which tests hand to rsync as $RSYNC_RSH, as an admin with an ssh config of
their own would. sshd runs in the foreground (-D) and logs to its log file (-e).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Self

from tests.servers import LOCALHOST, _Process, free_port, wait_for_port

SSHD = "/usr/sbin/sshd"
ALIAS = "madash-push-test"
# sshd's privilege separation directory is compiled in; the openssh-server unit makes it at start,
# and no unit runs here.
PRIVSEP_DIR = Path("/run/sshd")


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", ALIAS, "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


class Sshd(_Process):
    name = "sshd"

    def __init__(self, tmp_dir: Path, *, extra: str = "") -> None:
        self.extra = extra  # more sshd_config lines
        self.dir = tmp_dir / "sshd"
        self.dir.mkdir(mode=0o700)
        super().__init__(self.dir / "sshd.log")
        self.port = free_port()
        self.client_config = self.dir / "ssh_config"

    @property
    def rsync_rsh(self) -> str:
        """$RSYNC_RSH for rsync to reach this server as ALIAS."""
        return f"ssh -F {self.client_config}"

    def _configure(self) -> Path:
        host_key = self.dir / "host_key"
        host_public = _keygen(host_key)
        client_key = self.dir / "client_key"
        (self.dir / "authorized_keys").write_text(_keygen(client_key) + "\n")
        config = self.dir / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress {LOCALHOST}\nHostKey {host_key}\n"
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}\nPidFile none\n"
            # The test's files are in a temporary directory that StrictModes would judge.
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            f"PermitRootLogin prohibit-password\nLogLevel VERBOSE\n{self.extra}"
        )
        (self.dir / "known_hosts").write_text(f"{ALIAS} {' '.join(host_public.split()[:2])}\n")
        self.client_config.write_text(
            f"Host {ALIAS}\n  HostName {LOCALHOST}\n  Port {self.port}\n  User root\n  IdentityFile {client_key}\n"
            f"  IdentitiesOnly yes\n  HostKeyAlias {ALIAS}\n  UserKnownHostsFile {self.dir / 'known_hosts'}\n"
            "  StrictHostKeyChecking yes\n  BatchMode yes\n"
        )
        return config

    def sessions(self) -> list[int]:
        """The pids of sshd's children: the connections still open (and the rsync each runs)."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.pid:
                found.append(int(entry))
        return found

    def __enter__(self) -> Self:
        config = self._configure()
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        process = self._spawn([SSHD, "-D", "-e", "-f", str(config)])
        try:
            wait_for_port(self.port, process=process)
        except BaseException:
            self._stop()
            raise
        return self
