"""madash-stunnel.service's user and capabilities, applied to Debian's real stunnel4 by setpriv.

systemd gives the unit's process User=, Group=, CapabilityBoundingSet=, AmbientCapabilities= and
NoNewPrivileges= with the same kernel calls setpriv makes (setresuid, PR_CAPBSET_DROP,
PR_CAP_AMBIENT_RAISE, PR_SET_NO_NEW_PRIVS): the settings are read from the rendered unit and handed
to setpriv, so a port below 1024 is shown to be bound, and bound again on SIGHUP (stunnel closes and
re-binds every listener when it reloads), exactly when the unit grants CAP_NET_BIND_SERVICE. The
rest of the sandbox needs systemd itself: tests/test_security.py checks it with systemd-analyze.
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from madash.bootstrap import init_site
from madash.deb.reader import DebContents, read_deb
from madash.formats import systemd
from madash.packages import bake, server
from madash.site.config import load_site
from tests.conftest import NOW
from tests.servers import ServerError, Stunnel, free_port

pytestmark = pytest.mark.network
TLS = "/etc/madash-server/tls"
UNIT = "/lib/systemd/system/madash-stunnel.service"


def free_low_ports(count: int) -> list[int]:
    """Ports below 1024 free on 127.0.0.1 now (root may bind them: this test runs as root)."""
    found: list[int] = []
    for port in random.sample(range(600, 1024), 424):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise AssertionError("no free ports below 1024 on 127.0.0.1")


def package(tmp: Path, door_port: int, grafana_port: int) -> DebContents:
    root = tmp / "site"
    init_site(root, ["127.0.0.1"], "unit test", force=False, ca_passphrase=None, now=NOW)
    config = root / "madash.toml"
    text = config.read_text().replace("door_port = 5086", f"door_port = {door_port}")
    config.write_text(text.replace("grafana_port = 3000", f"grafana_port = {grafana_port}"))
    site = load_site(root)
    return read_deb(bake.bake_package(site, server.server_spec(server.gather(site, NOW)), NOW).path)


def setpriv(unit_text: str, *, ambient: bool = True) -> list[str]:
    """The unit's process credentials as a setpriv command line; ``ambient=False`` leaves out the capability."""
    service = dict(systemd.parse(unit_text)["Service"])

    def caps(key: str) -> list[str]:
        return [name.removeprefix("CAP_").lower() for name in service.get(key, "").split()]

    argv = ["setpriv", f"--reuid={service['User']}", f"--regid={service['Group']}", "--clear-groups"]
    argv.append("--bounding-set=" + ",".join(["-all", *(f"+{cap}" for cap in caps("CapabilityBoundingSet"))]))
    raised = ",".join(f"+{cap}" for cap in caps("AmbientCapabilities"))
    if raised and ambient:
        argv += [f"--inh-caps={raised}", f"--ambient-caps={raised}"]
    if service.get("NoNewPrivileges") == "yes":
        argv.append("--no-new-privs")
    return argv


@pytest.fixture
def work() -> Iterator[Path]:
    """A directory the stunnel4 user can read (pytest's own are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="madash-unit-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def install_tls(contents: DebContents, work: Path) -> Path:
    """The package's stunnel.conf and TLS files under ``work``, owned as postinst leaves them."""
    (work / "tls").mkdir(mode=0o755)
    for name in ("server.crt", "server.key", "ca.crt", "crl.pem"):
        (work / "tls" / name).write_bytes(contents.members[f"{TLS}/{name}"].data or b"")
        (work / "tls" / name).chmod(0o644)
    stunnel4 = pwd.getpwnam("stunnel4")
    os.chown(work / "tls" / "server.key", stunnel4.pw_uid, stunnel4.pw_gid)
    (work / "tls" / "server.key").chmod(0o600)
    conf = work / "stunnel.conf"
    conf.write_text(
        (contents.members["/etc/madash-server/stunnel.conf"].data or b"").decode().replace(TLS, str(work / "tls"))
    )
    return conf


def unit_text(contents: DebContents) -> str:
    return (contents.members[UNIT].data or b"").decode()


def test_ports_below_1024_are_bound_and_rebound_on_reload_with_the_units_capability(work: Path) -> None:
    assert Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text().strip() == "1024"
    door, grafana = free_low_ports(2)
    contents = package(work, door, grafana)
    unit = unit_text(contents)
    service = dict(systemd.parse(unit)["Service"])
    assert service["AmbientCapabilities"] == service["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert "PrivateUsers" not in service, "a capability from a user namespace of its own binds nothing"
    conf = install_tls(contents, work)
    with Stunnel(conf, ports=[door, grafana], wrapper=setpriv(unit)) as stunnel:
        status = Path(f"/proc/{stunnel.pid}/status").read_text()
        assert f"Uid:\t{pwd.getpwnam('stunnel4').pw_uid}\t" in status
        assert "CapEff:\t0000000000000400" in status, "CAP_NET_BIND_SERVICE (bit 10) and nothing else"
        assert stunnel.reload()
        stunnel.check_alive()
    # Without the capability the same stunnel, user and ports fail: it is the capability that binds them.
    with (
        pytest.raises(ServerError, match="exited early"),
        Stunnel(conf, ports=[door], wrapper=setpriv(unit, ambient=False)),
    ):
        pass


def test_ports_from_1024_get_no_capability_at_all(work: Path) -> None:
    door, grafana = free_port(), free_port()
    contents = package(work, door, grafana)
    unit = unit_text(contents)
    service = dict(systemd.parse(unit)["Service"])
    assert "AmbientCapabilities" not in service
    assert (service["CapabilityBoundingSet"], service["PrivateUsers"]) == ("", "yes")
    with Stunnel(install_tls(contents, work), ports=[door, grafana], wrapper=setpriv(unit)) as stunnel:
        assert "CapEff:\t0000000000000000" in Path(f"/proc/{stunnel.pid}/status").read_text()
        assert stunnel.reload()
