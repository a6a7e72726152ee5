"""Print `systemd-analyze security` exposure of madash-server's units, as a new site's package renders them.

Both variants of madash-stunnel.service are scored: ports from 1024 up (no capability, a user
namespace of its own) and ports below 1024 (CAP_NET_BIND_SERVICE). `--offline=yes` reads the unit
files themselves, so no booted systemd is needed. Unit files given as arguments (such as a client's
Telegraf drop-in merged into telegraf.service) are scored too.

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
from madash.bootstrap import init_site
from madash.deb.reader import read_deb
from madash.packages import bake, server
from madash.site.config import load_site

VARIANTS = {"ports from 1024": (5086, 3000), "ports below 1024": (443, 80)}
_OVERALL = re.compile(r"Overall exposure level for .*: ([0-9]+\.[0-9])")


def exposure(unit: Path) -> str:
    result = run.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit.resolve()])
    match = _OVERALL.search(result.stdout.decode())
    if match is None:
        raise SystemExit(f"security-scores: systemd-analyze printed no overall exposure for {unit}")
    return match.group(1)


def server_units(work: Path, door_port: int, grafana_port: int) -> dict[str, Path]:
    """The units of a server package baked for a fresh site with these ports, written under ``work``."""
    now = dt.datetime.now(dt.UTC)
    init_site(work / "site", ["127.0.0.1"], "scores", force=False, ca_passphrase=None, now=now)
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
        for path in args.units:
            print(f"{path.name}\t{path}\t{exposure(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
