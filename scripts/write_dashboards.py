"""Write madash's dashboards (scripts/dashboards/, typed code with grafana-foundation-sdk) as dashboards/*.json.

Usage: .venv/bin/python scripts/write_dashboards.py [DIRECTORY]   (default: the checkout's dashboards/)

The JSON is committed and ships in madash-server; tests/test_dashboards_code.py runs this into a temporary
directory and fails on any difference, so the code and the shipped files never part.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import fleet, host, internet, smart

MODULES = (fleet, host, internet, smart)


def render(module: object) -> str:
    data = json.loads(json.dumps(module.build(), cls=JSONEncoder))  # type: ignore[attr-defined]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    directory = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "dashboards"
    directory.mkdir(parents=True, exist_ok=True)
    for module in MODULES:
        (directory / module.FILE).write_text(render(module))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
