#!/usr/bin/python3
"""Stand-in for InfluxData's /usr/bin/telegraf, installed by madash's chroot tests.

The real Telegraf cannot be downloaded on the test machines. This one takes the
same command line as far as madash uses it and checks what it can check
honestly: every configuration file must be valid TOML, and its plugin sections
must have Telegraf's shape. It does not know Telegraf's plugins or their
options, so a misspelt plugin or option passes here and fails in the real one.

    telegraf [-config FILE]... [-config-directory DIR] [--test | --once] [--version]

Flags take one or two dashes and "-flag value" or "-flag=value", as Go's flag
package does. Without --test or --once it validates, tells systemd it is ready
(the unit is Type=notify), and waits for SIGTERM; SIGHUP re-reads the files.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import sys
import tomllib
from pathlib import Path
from types import FrameType
from typing import Any

# Replaced by the package builder with the upstream part of the package version.
VERSION = "@VERSION@"
DEFAULT_CONFIG = "/etc/telegraf/telegraf.conf"
PLUGIN_KINDS = ("inputs", "processors", "aggregators", "outputs")
# Top-level tables that real Telegraf knows besides the plugin kinds.
OTHER_TABLES = ("agent", "global_tags", "tags", "secretstores")
# Telegraf's own wording, so that a test reads the same error either way.
NO_PLUGINS = "no {kind} found, did you provide a valid config file?"

# Telegraf substitutes environment variables before parsing ($VAR, ${VAR});
# /etc/default/telegraf is where they come from. Unset ones are left as they are.
ENV_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


class ConfigError(Exception):
    pass


def _substitute(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return os.environ.get(name, match.group(0))

    return ENV_VAR.sub(replace, text)


def _plugins(path: Path, data: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for key, value in data.items():
        if key in OTHER_TABLES:
            if not isinstance(value, dict):
                raise ConfigError(f"error parsing {path}: {key!r} must be a table")
            continue
        if key not in PLUGIN_KINDS:
            raise ConfigError(f"error parsing {path}: unsupported config format: {key}")
        if not isinstance(value, dict):
            raise ConfigError(f"error parsing {path}: {key!r} must be a table of plugins")
        for name, instances in value.items():
            # [[inputs.cpu]] is a list of tables; a single [inputs.cpu] is
            # refused by Telegraf too.
            if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
                raise ConfigError(f"error parsing {path}: unsupported config format: {key}.{name}")
            found.extend(f"{key}.{name}" for _ in instances)
    return found


def load(files: list[Path]) -> list[str]:
    plugins: list[str] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"error loading config file {path}: {error.strerror}") from error
        try:
            data = tomllib.loads(_substitute(text))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"error parsing {path}: {error}") from error
        plugins.extend(_plugins(path, data))
    return plugins


def config_files(configs: list[str], directories: list[str]) -> list[Path]:
    if not configs and not directories:
        configs = [os.environ.get("TELEGRAF_CONFIG_PATH", DEFAULT_CONFIG)]
    files = [Path(name) for name in configs]
    for directory in directories:
        if not Path(directory).is_dir():
            raise ConfigError(f"error loading config directory {directory}: not a directory")
        # Like Telegraf: every *.conf below the directory, in name order.
        files.extend(sorted(p for p in Path(directory).rglob("*.conf") if p.is_file()))
    return files


def _notify_ready() -> None:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"READY=1", address)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="telegraf", allow_abbrev=False)
    parser.add_argument("-config", "--config", action="append", default=[], metavar="FILE")
    parser.add_argument("-config-directory", "--config-directory", action="append", default=[], metavar="DIR")
    parser.add_argument("-test", "--test", action="store_true")
    parser.add_argument("-once", "--once", action="store_true")
    parser.add_argument("-version", "--version", action="store_true")
    # Accepted so that TELEGRAF_OPTS may carry them; they change nothing here.
    parser.add_argument("-debug", "--debug", action="store_true")
    parser.add_argument("-quiet", "--quiet", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.version:
        print(f"Telegraf {VERSION} (madash test stand-in)")
        return 0
    try:
        files = config_files(args.config, args.config_directory)
        plugins = load(files)
    except ConfigError as error:
        print(f"E! {error}", file=sys.stderr)
        return 1
    if not any(p.startswith("inputs.") for p in plugins):
        print(f"E! [telegraf] Error running agent: {NO_PLUGINS.format(kind='inputs')}", file=sys.stderr)
        return 1
    if args.test:
        # Real Telegraf prints the metrics it gathered; the stand-in has no
        # plugins to run, so it prints which ones it would run.
        for name in plugins:
            print(name)
        return 0
    if not any(p.startswith("outputs.") for p in plugins):
        print(f"E! [telegraf] Error running agent: {NO_PLUGINS.format(kind='outputs')}", file=sys.stderr)
        return 1
    if args.once:
        return 0

    def reload(signum: int, frame: FrameType | None) -> None:
        try:
            load(files)
        except ConfigError as error:
            print(f"E! {error}", file=sys.stderr)

    signal.signal(signal.SIGHUP, reload)
    _notify_ready()
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
