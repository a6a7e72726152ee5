"""Every maintainer script, called with every first argument dpkg can pass it, on a real Debian 12.

dpkg itself only takes some of those paths (abort-deconfigure needs a conflict
resolved half-way, disappear a package whose every file another overwrote), so
the installed scripts are run here as dpkg runs them: the arguments of Debian
policy 6.5 and dpkg's environment. Each must exit 0, and the package must still
be installed and working afterwards (configure may follow any of them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from madash.deb.snippet_table import CALLS, Arg, Script
from madash.packages import bake, server
from madash.site.config import load_site
from tests.conftest import NOW, bake_host
from tests.standin import build_standin_telegraf
from tests.standin.docker import build_standin_docker

if TYPE_CHECKING:
    from tests.chroot import Chroot

pytest_plugins = ["tests.chroot"]
pytestmark = pytest.mark.chroot
OTHER = ("in-favour", "madash-client-other", "1")

# Policy 6.5: the rest of each call; V is the installed version.
REST: dict[tuple[Script, Arg], tuple[str, ...]] = {
    (Script.PREINST, Arg.INSTALL): (),
    (Script.PREINST, Arg.UPGRADE): ("V", "V"),
    (Script.PREINST, Arg.ABORT_UPGRADE): ("V",),
    (Script.POSTINST, Arg.CONFIGURE): ("V",),
    (Script.POSTINST, Arg.ABORT_UPGRADE): ("V",),
    (Script.POSTINST, Arg.ABORT_REMOVE): (),
    (Script.POSTINST, Arg.ABORT_DECONFIGURE): OTHER,
    (Script.PRERM, Arg.REMOVE): (),
    (Script.PRERM, Arg.UPGRADE): ("V",),
    (Script.PRERM, Arg.DECONFIGURE): OTHER,
    (Script.PRERM, Arg.FAILED_UPGRADE): ("V", "V"),
    (Script.POSTRM, Arg.REMOVE): (),
    (Script.POSTRM, Arg.PURGE): (),
    (Script.POSTRM, Arg.UPGRADE): ("V",),
    (Script.POSTRM, Arg.FAILED_UPGRADE): ("V", "V"),
    (Script.POSTRM, Arg.ABORT_INSTALL): (),
    (Script.POSTRM, Arg.ABORT_UPGRADE): ("V", "V"),
    (Script.POSTRM, Arg.DISAPPEAR): ("madash-client-other", "1"),
}
# Teardown last, so that the calls before it meet an installed package.
LAST = [(Script.POSTRM, Arg.REMOVE), (Script.POSTRM, Arg.PURGE)]


def run_every_case(chroot: Chroot, package: str, deb: str) -> list[str]:
    version = chroot.run(["dpkg-query", "-W", "-f", "${Version}", package]).stdout
    calls = [(s, a) for s in Script for a in CALLS[s] if (s, a) not in LAST] + LAST
    assert set(calls) == set(REST)
    ran = []
    for script, arg in calls:
        path = f"/var/lib/dpkg/info/{package}.{script}"
        if not chroot.exists(path):
            continue
        argv = [path, arg, *(version if part == "V" else part for part in REST[script, arg])]
        env = {"DPKG_MAINTSCRIPT_PACKAGE": package, "DPKG_MAINTSCRIPT_NAME": str(script)}
        result = chroot.run(argv, check=False, env=env)
        assert result.returncode == 0, (argv, result.stderr)
        ran.append(f"{script} {arg}")
    # The last was postrm purge, which removes /var/lib/PACKAGE (where the key is shipped): as after a real
    # purge, installing the package again brings it all back.
    chroot.run(["dpkg", "-i", deb])
    return ran


def test_client_scripts_handle_every_argument(chroot: Chroot, site_dir: Path, tmp_path: Path) -> None:
    chroot.run(["dpkg", "-i", chroot.copy_in(build_standin_telegraf(tmp_path))])
    chroot.run(["groupadd", "--system", "docker"])
    deb = chroot.copy_in(bake_host(site_dir, "laptop", "docker", "smart").path)
    chroot.run(["dpkg", "-i", deb])
    ran = run_every_case(chroot, "madash-client-laptop", deb)
    assert {"preinst install", "postinst abort-deconfigure", "postrm disappear", "postrm purge"} <= set(ran)
    assert "docker" in chroot.run(["id", "-nG", "telegraf"]).stdout.split()
    chroot.run(["visudo", "-c"])
    chroot.run(["dpkg", "-P", "madash-client-laptop"])
    assert "docker" not in chroot.run(["id", "-nG", "telegraf"]).stdout.split()


def test_server_scripts_handle_every_argument(chroot: Chroot, site_dir: Path, tmp_path: Path) -> None:
    for standin in build_standin_docker(tmp_path / "standin"):
        chroot.run(["dpkg", "-i", chroot.copy_in(standin)])
    site = load_site(site_dir)
    deb = chroot.copy_in(bake.bake_package(site, server.server_spec(server.gather(site, NOW)), NOW).path)
    chroot.run(["dpkg", "-i", deb])
    ran = run_every_case(chroot, "madash-server", deb)
    assert {"prerm deconfigure", "postinst abort-remove", "postrm abort-install"} <= set(ran)
    key = chroot.stat("/etc/madash-server/tls/server.key")
    assert (key.owner, oct(key.mode)) == ("stunnel4", "0o600")
    assert chroot.exists("/var/lib/madash/grafana")
    chroot.run(["dpkg", "-P", "madash-server"])
    assert not chroot.exists("/var/lib/madash")
