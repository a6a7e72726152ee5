"""Stand-ins for Debian 12's docker.io and docker-compose packages, for the server package's chroot tests.

madash-server ``Depends: docker.io | docker-ce, docker-compose-plugin | docker-compose`` and its unit
``Requires=docker.service``. The real packages cannot do their job in the chroot tests: no container
can run inside an mmdebstrap chroot (no systemd, no cgroup delegation, policy-rc.d forbids starting
services) and no image can be pulled on these machines. The real docker.io also drags in containerd,
runc, iptables and tini, which the tests would download and unpack for nothing. So the tests install
these two small packages instead, built by ``build_standin_docker``.

What they keep of the real ones (docker.io 20.10.24+dfsg1-1+deb12u1, docker-compose 1.29.2-3):
the package names; the ``docker`` system group, made by docker.io's postinst when missing and left
behind on purge, as Debian's is; /lib/systemd/system/docker.service (Debian's ExecStart,
``/usr/sbin/dockerd -H fd:// ... $DOCKER_OPTS`` with ``EnvironmentFile=-/etc/default/docker``) and
docker.socket (``SocketGroup=docker``), enabled and purged with dh_installsystemd's snippets;
/etc/default/docker as a conffile; /usr/bin/docker, /usr/sbin/dockerd and /usr/bin/docker-compose.

What they do instead of running containers: ``docker --version``, ``docker-compose version`` and
``docker-compose --version`` print a version and exit 0. ``docker compose ...`` fails as it does with
Debian 12's docker.io, which has no compose plugin (so madash's compose wrapper takes the
docker-compose branch). Everything else (``docker version``, ``docker ps``, ``dockerd``,
``docker-compose up``) prints ``stand-in: no container engine here`` on stderr and exits 1, as the
real client does when no daemon answers: a test can never mistake the stand-in for a working engine.

Known differences, none of which madash depends on: Architecture ``all`` (shell scripts); no
containerd, runc or iptables dependencies, so the unit names no containerd.service; no
/etc/init.d/docker, udev rule or docker-proxy; the postinst enables the units but never starts them
(Debian's starts docker.service where systemd runs); versions end in ``~standin`` so that the real
packages, were they ever reachable, would upgrade them.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.standin import build_tree

__all__ = ["COMPOSE_VERSION", "DOCKER_VERSION", "build_standin_docker"]

DOCKER_VERSION = "20.10.24+dfsg1-1+deb12u1~standin"
COMPOSE_VERSION = "1.29.2-3~standin"

_NO_ENGINE = "stand-in: no container engine here"

_DOCKER = f"""\
#!/bin/sh
# Stand-in docker client (madash tests, tests/standin/docker.py): there is no engine behind it.
case "${{1:-}}" in
--version | -v)
	echo "Docker version 20.10.24+dfsg1, build stand-in"
	;;
compose)
	# As Debian 12's docker.io, which ships no compose plugin.
	echo "docker: 'compose' is not a docker command." >&2
	echo "See 'docker --help'" >&2
	exit 1
	;;
version)
	# The real client prints its own part, then fails to reach the daemon.
	echo "Client:"
	echo " Version:           20.10.24+dfsg1 (stand-in)"
	echo "{_NO_ENGINE}" >&2
	exit 1
	;;
*)
	echo "{_NO_ENGINE}" >&2
	exit 1
	;;
esac
"""

_DOCKERD = f"""\
#!/bin/sh
# Stand-in dockerd (madash tests, tests/standin/docker.py): no container can run here, so it never
# pretends to have started.
echo "{_NO_ENGINE}" >&2
exit 1
"""

_DOCKER_COMPOSE = f"""\
#!/bin/sh
# Stand-in docker-compose (madash tests, tests/standin/docker.py): knows its version, runs nothing.
case "${{1:-}}" in
version | --version | -v)
	echo "docker-compose version 1.29.2, build stand-in"
	;;
*)
	echo "{_NO_ENGINE}" >&2
	exit 1
	;;
esac
"""

# Debian's unit less containerd, which the stand-in does not depend on.
_DOCKER_SERVICE = """\
[Unit]
Description=Docker Application Container Engine (madash test stand-in)
Documentation=https://docs.docker.com
After=network-online.target docker.socket firewalld.service
Wants=network-online.target
Requires=docker.socket

[Service]
Type=notify
EnvironmentFile=-/etc/default/docker
ExecStart=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS
ExecReload=/bin/kill -s HUP $MAINPID
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Delegate=yes
KillMode=process
Restart=on-failure
StartLimitBurst=3
StartLimitInterval=60s

[Install]
WantedBy=multi-user.target
"""

_DOCKER_SOCKET = """\
[Unit]
Description=Docker Socket for the API (madash test stand-in)

[Socket]
ListenStream=/run/docker.sock
SocketMode=0660
SocketUser=root
SocketGroup=docker

[Install]
WantedBy=sockets.target
"""

_DEFAULT_DOCKER = """\
# Stand-in for Debian's /etc/default/docker, read by docker.service (EnvironmentFile).
#DOCKER_OPTS=""
"""

_UNITS = "docker.service docker.socket"

# As Debian's docker.io postinst: the group docker.socket gives /run/docker.sock. It is never removed,
# not even on purge: files may belong to it. Then dh_installsystemd's enable snippet (debhelper 13.11).
_DOCKER_POSTINST = f"""\
#!/bin/sh
# Stand-in docker.io (madash tests, tests/standin/docker.py).
set -e

if [ "$1" = configure ] && ! getent group docker >/dev/null 2>&1; then
	addgroup --system docker
fi

if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
	for unit in {_UNITS}; do
		deb-systemd-helper unmask "$unit" >/dev/null || true
		if deb-systemd-helper --quiet was-enabled "$unit"; then
			deb-systemd-helper enable "$unit" >/dev/null || true
		else
			deb-systemd-helper update-state "$unit" >/dev/null || true
		fi
	done
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
	fi
fi

exit 0
"""

_DOCKER_PRERM = f"""\
#!/bin/sh
# Stand-in docker.io (madash tests): dh_installsystemd's stop snippet, as Debian's prerm.
set -e

if [ -z "${{DPKG_ROOT:-}}" ] && [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	deb-systemd-invoke stop {_UNITS} >/dev/null || true
fi

exit 0
"""

# Purge undoes the enablement (symlinks and deb-systemd-helper's state); dpkg itself removes the
# conffile. The docker group stays, as with Debian's package.
_DOCKER_POSTRM = f"""\
#!/bin/sh
# Stand-in docker.io (madash tests): dh_installsystemd's snippets, as Debian's postrm.
set -e

if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi

if [ "$1" = purge ] && [ -x /usr/bin/deb-systemd-helper ]; then
	deb-systemd-helper purge {_UNITS} >/dev/null || true
fi

exit 0
"""


@dataclass(frozen=True)
class _Member:
    path: str  # inside the package, without the leading slash
    data: str
    mode: int


@dataclass(frozen=True)
class _Package:
    name: str
    version: str
    control: str
    members: tuple[_Member, ...]
    conffiles: tuple[str, ...] = ()
    scripts: tuple[tuple[str, str], ...] = ()
    empty_dirs: tuple[str, ...] = ()


_DOCKER_IO = _Package(
    name="docker.io",
    version=DOCKER_VERSION,
    control="""\
Package: docker.io
Version: {version}
Architecture: all
Maintainer: madash tests <madash@localhost>
Depends: adduser
Section: admin
Priority: optional
Homepage: https://mobyproject.org
Description: stand-in for Debian's docker.io, for madash's tests
 The same package name, docker group, systemd units and program paths as
 Debian 12's docker.io. There is no container engine: dockerd and docker
 only say so and fail.
""",
    members=(
        _Member("etc/default/docker", _DEFAULT_DOCKER, 0o644),
        _Member("lib/systemd/system/docker.service", _DOCKER_SERVICE, 0o644),
        _Member("lib/systemd/system/docker.socket", _DOCKER_SOCKET, 0o644),
        _Member("usr/bin/docker", _DOCKER, 0o755),
        _Member("usr/sbin/dockerd", _DOCKERD, 0o755),
    ),
    conffiles=("/etc/default/docker",),
    scripts=(("postinst", _DOCKER_POSTINST), ("prerm", _DOCKER_PRERM), ("postrm", _DOCKER_POSTRM)),
    # Debian's ships /etc/docker empty (daemon.json goes there); dpkg removes it with the package.
    empty_dirs=("etc/docker",),
)

_COMPOSE = _Package(
    name="docker-compose",
    version=COMPOSE_VERSION,
    control="""\
Package: docker-compose
Version: {version}
Architecture: all
Maintainer: madash tests <madash@localhost>
Section: admin
Priority: optional
Homepage: https://docs.docker.com/compose/
Description: stand-in for Debian's docker-compose, for madash's tests
 The same package name and program as Debian 12's docker-compose (v1).
 It knows its version and runs nothing.
""",
    members=(_Member("usr/bin/docker-compose", _DOCKER_COMPOSE, 0o755),),
)


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def _build(package: _Package, out_dir: Path) -> Path:
    deb = out_dir / f"{package.name}_{package.version.split(':', 1)[-1]}_all.deb"
    with tempfile.TemporaryDirectory(prefix=f"standin-{package.name}-") as scratch:
        tree = Path(scratch) / "tree"
        md5sums = []
        for member in package.members:
            data = member.data.encode()
            _write(tree / member.path, data, member.mode)
            if f"/{member.path}" not in package.conffiles:
                # md5sums is dpkg's integrity list (dpkg --verify), not a security check.
                digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
                md5sums.append(f"{digest}  {member.path}\n")
        for directory in package.empty_dirs:
            (tree / directory).mkdir(parents=True, exist_ok=True)

        control = tree / "DEBIAN"
        _write(control / "control", package.control.format(version=package.version).encode(), 0o644)
        _write(control / "md5sums", "".join(sorted(md5sums)).encode(), 0o644)
        if package.conffiles:
            _write(control / "conffiles", "".join(f"{name}\n" for name in package.conffiles).encode(), 0o644)
        for name, text in package.scripts:
            _write(control / name, text.encode(), 0o755)

        build_tree(tree, deb)
    return deb


def build_standin_docker(out_dir: Path) -> list[Path]:
    """Build the docker.io and docker-compose stand-ins into ``out_dir``; return their paths, in that order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [_build(_DOCKER_IO, out_dir), _build(_COMPOSE, out_dir)]
