"""Print `systemd-analyze security` exposure of madash's units, as a new site's packages render them.

Both variants of madash-stunnel.service are scored: ports from 1024 up (no capability, a user
namespace of its own) and ports below 1024 (CAP_NET_BIND_SERVICE). telegraf.service is InfluxData's
unit (as tests/standin ships it) with a client package's drop-in appended, in its two tiers: a host
with the smart feature (sudo must keep its setuid bit, so no NoNewPrivileges nor anything implying
it) and one without. `--offline=yes` reads the unit files themselves, so no booted systemd is
needed. Unit files given as arguments are scored too.

Output, one line per unit: UNIT<TAB>VARIANT<TAB>EXPOSURE (0.0 best, 10.0 worst).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import tempfile
from pathlib import Path

from madash import run
from madash.apt.identity import identity
from madash.bootstrap import init_site
from madash.deb.reader import read_deb
from madash.packages import bake, client, fleet, server
from madash.site.config import load_site

VARIANTS = {"ports from 1024": (5086, 3000), "ports below 1024": (443, 80)}
TELEGRAF_UNIT = Path(__file__).resolve().parent.parent / "tests" / "standin" / "files" / "telegraf.service"
CLIENT_VARIANTS = {"with sudo: smart docker internet": ("smart", "docker", "internet"),
                   "without sudo: docker internet": ("docker", "internet")}  # fmt: skip
_OVERALL = re.compile(r"Overall exposure level for .*: ([0-9]+\.[0-9])")


def exposure(unit: Path) -> str:
    result = run.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit.resolve()])
    match = _OVERALL.search(result.stdout.decode())
    if match is None:
        raise SystemExit(f"security-scores: systemd-analyze printed no overall exposure for {unit}")
    return match.group(1)


def new_site(work: Path, now: dt.datetime) -> None:
    init_site(work / "site", ["127.0.0.1"], "scores", force=False, ca_passphrase=None, now=now)


def telegraf_units(work: Path) -> dict[str, Path]:
    """telegraf.service with each client variant's drop-in merged in, written under ``work``."""
    now = dt.datetime.now(dt.UTC)
    new_site(work, now)
    site = load_site(work / "site")
    units = {}
    for n, (variant, features) in enumerate(CLIENT_VARIANTS.items()):
        baked = fleet.bake_host(site, f"host{n}", apt=identity(site), features=list(features), interval=None,
                                tags=None, passphrase=lambda: None, now=now)  # fmt: skip
        dropin = read_deb(baked.path).members[client.DROPIN].data or b""
        units[variant] = work / str(n) / "telegraf.service"
        units[variant].parent.mkdir()
        units[variant].write_bytes(TELEGRAF_UNIT.read_bytes() + dropin)
    return units


def server_units(work: Path, door_port: int, grafana_port: int) -> dict[str, Path]:
    """The units of a server package baked for a fresh site with these ports, written under ``work``."""
    now = dt.datetime.now(dt.UTC)
    new_site(work, now)
    config = work / "site" / "madash.toml"
    text = config.read_text().replace("door_port = 5086", f"door_port = {door_port}")
    config.write_text(text.replace("grafana_port = 3000", f"grafana_port = {grafana_port}"))
    site = load_site(work / "site")
    contents = read_deb(bake.bake_package(site, server.server_spec(server.gather(site, now)), now).path)
    units = {}
    for name in server.UNITS:
        units[name] = work / name
        units[name].write_bytes(contents.members[f"{server.UNIT_DIR}/{name}"].data or b"")
    return units


def main() -> int:
    parser = argparse.ArgumentParser(prog="security-scores", description=__doc__.splitlines()[0])
    parser.add_argument("units", nargs="*", type=Path, help="more unit files to score")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="madash-scores-") as tmp:
        for variant, (door_port, grafana_port) in VARIANTS.items():
            work = Path(tmp) / variant.replace(" ", "-")
            work.mkdir()
            for name, path in server_units(work, door_port, grafana_port).items():
                if variant == "ports from 1024" or name == "madash-stunnel.service":
                    print(f"{name}\t{variant}\t{exposure(path)}")
        (Path(tmp) / "telegraf").mkdir()
        for variant, path in telegraf_units(Path(tmp) / "telegraf").items():
            print(f"telegraf.service\t{variant}\t{exposure(path)}")
        for path in args.units:
            print(f"{path.name}\t{path}\t{exposure(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
