"""The madash-build command line: parse arguments, call one function, map errors to exit codes.

This is the only module that prints or exits. Exit codes: 0 ok, 1 operational
error, 2 usage or bad input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from madash import __version__
from madash.errors import MadashError, UsageError
from madash.names import HOST_RULE
from madash.site import load_site

if TYPE_CHECKING:
    from madash.site import Site
    from madash.status import SiteStatus

# Each command imports what it needs when it runs: cryptography, jinja2, rich and
# python-debian together take a third of a second to import, more than a repo
# publish with nothing to do needs in all.

PROG = "madash-build"
PASSPHRASE_VARIABLE = "MADASH_CA_PASSPHRASE"  # noqa: S105 - a variable name, not a secret

DESCRIPTION = """\
Keep a Grafana + InfluxDB + Telegraf monitoring site in one directory and bake
Debian packages from it: madash-server for the monitoring server, and one
madash-client-HOST per monitored machine, each with its own certificate.
"""

EPILOG = f"""\
The site directory is --site DIR, else $MADASH_SITE, else the current directory.
The CA key may carry a passphrase: it is read from ${PASSPHRASE_VARIABLE}, or asked
for on a terminal. Exit codes: 0 ok, 1 operational error, 2 usage or bad input.
Run '{PROG} COMMAND --help' for each command's options.
"""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line plus a hint, like every other error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, hint=f"see '{self.prog} --help'")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def passphrase_source() -> bytes | None:
    """The CA key's passphrase: from the environment, else asked on a terminal."""
    value = os.environ.get(PASSPHRASE_VARIABLE)
    if value:
        return value.encode()
    if sys.stdin.isatty():
        return getpass.getpass("Passphrase of the site CA key: ").encode()
    return None


def _new_passphrase(asked: bool) -> bytes | None:
    value = os.environ.get(PASSPHRASE_VARIABLE)
    if value:
        return value.encode()
    if not asked:
        return None
    if not sys.stdin.isatty():
        raise UsageError(
            "--ca-passphrase needs a terminal to ask on", hint=f"or set {PASSPHRASE_VARIABLE} in the environment"
        )
    first = getpass.getpass("New passphrase for the site CA key: ")
    if not first:
        raise UsageError("the passphrase is empty")
    if getpass.getpass("Repeat it: ") != first:
        raise UsageError("the passphrases differ")
    return first.encode()


# --- commands ----------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from madash.siteinit import init_site

    addresses = [part for value in args.server for part in value.split(",")] if args.server else []
    site, backup = init_site(
        args.site,
        addresses,
        args.name,
        force=args.force,
        maintainer=args.maintainer,
        ca_passphrase=_new_passphrase(args.ca_passphrase),
        now=now(),
    )
    print(f"created site {site.config.site.name!r} in {site.paths.root}")
    print(f"  server certificate for: {', '.join(site.config.server.addresses)}")
    if backup is not None:
        print(f"  the replaced site files were moved to {backup}")
    print(f"next: '{PROG} client HOST --feature ...' for each machine, '{PROG} server' for the server")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from madash import certstore

    site = load_site(args.site)
    entry = certstore.revoke_host(site, args.host, passphrase_source, now())
    print(f"revoked {args.host}'s certificate (serial {entry.serial:x}); the CRL is rewritten")
    print(f"next: bake and install the server package so that stunnel refuses {args.host}")
    return 0


def cmd_renew(args: argparse.Namespace) -> int:
    from madash import certstore

    site = load_site(args.site)
    if args.server == (args.host is not None):
        raise UsageError("renew takes either a HOST or --server", hint=f"see '{PROG} renew --help'")
    if args.server:
        entry = certstore.renew_server(site, passphrase_source, now())
        print(f"new server certificate (serial {entry.serial:x}, until {entry.not_after:%Y-%m-%d})")
        print("the old one is revoked and the CRL rewritten")
        print("next: bake and install the server package")
    else:
        entry = certstore.renew_host(site, args.host, passphrase_source, now())
        print(f"new certificate for {args.host} (serial {entry.serial:x}, until {entry.not_after:%Y-%m-%d})")
        print("the old one is revoked and the CRL rewritten")
        print(f"next: bake and install {args.host}'s client package, and the server package for the new CRL")
    return 0


def _tags(values: list[str] | None) -> dict[str, str] | None:
    if values is None:
        return None
    tags = {}
    for value in values:
        key, sep, tag_value = value.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise UsageError(f"invalid --tag {value!r}", hint="use --tag KEY=VALUE, KEY being letters, digits and _")
        tags[key] = tag_value
    return tags


def cmd_client(args: argparse.Namespace) -> int:
    from madash import fleet

    site = load_site(args.site)
    if args.all == (args.host is not None):
        raise UsageError("client takes either a HOST or --all", hint=f"see '{PROG} client --help'")
    features: list[str] | None = [] if args.no_features else args.feature
    if args.all:
        if features is not None or args.interval or args.tag:
            raise UsageError("--all re-bakes hosts as madash.toml describes them; it takes no host options")
        return _bake_fleet(site, args.jobs)
    result = fleet.bake_host(
        site,
        args.host,
        features=features,
        interval=args.interval,
        tags=_tags(args.tag),
        passphrase=passphrase_source,
        now=now(),
    )
    state = "new version" if result.changed else "unchanged"
    print(f"{result.package} {result.version} ({state}): {_shown(result.path)}")
    return 0


def _bake_fleet(site: Site, jobs: int | None) -> int:
    from madash import fleet, progress

    hosts = sorted(site.config.hosts)
    if not hosts:
        raise UsageError("madash.toml has no hosts yet", hint=f"add one with '{PROG} client HOST --feature ...'")
    with progress.Reporter(len(hosts), "baking", interactive=sys.stdout.isatty()) as reporter:
        items = fleet.bake_all(site, passphrase=passphrase_source, now=now(), jobs=jobs, report=reporter.advance)
    rows = [("HOST", "VERSION", "STATE", "FILE")]
    for item in items:
        if item.result is None:
            rows.append((item.host, "-", "failed", item.error or ""))
        else:
            state = "changed" if item.result.changed else "unchanged"
            rows.append((item.host, item.result.version, state, _shown(item.result.path)))
    _print_table(rows)
    failed = [item for item in items if item.result is None]
    changed = sum(1 for item in items if item.result is not None and item.result.changed)
    print(
        f"{len(items)} hosts: {changed} changed, {len(items) - changed - len(failed)} unchanged, {len(failed)} failed"
    )
    for item in failed:
        print(f"{PROG}: error: {item.host}: {item.error}", file=sys.stderr)
    return 1 if failed else 0


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def cmd_server(args: argparse.Namespace) -> int:
    from madash import certstore, server
    from madash.bake import bake_package

    site = load_site(args.site)
    if args.refresh_crl:
        certstore.refresh_crl(site, passphrase_source, now())
        print("the CRL is rewritten with a fresh next-update date")
    inputs = server.gather(site, now())
    for warning in inputs.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    result = bake_package(site, server.server_spec(inputs), now())
    state = "new version" if result.changed else "unchanged"
    print(f"{result.package} {result.version} ({state}): {_shown(result.path)}")
    return 0


def cmd_repo(args: argparse.Namespace) -> int:
    from madash import repo

    site = load_site(args.site)
    result = repo.publish(site, now())
    for suite, packages in result.suites.items():
        print(f"{suite}: {', '.join(packages)}")
    for path in result.removed:
        print(f"removed from the pool: {path}")
    if result.changed:
        print(f"published in {_shown(site.paths.repo)}; hosts use {_shown(site.paths.repo / 'sources')}/HOST.sources")
    else:
        print(f"{_shown(site.paths.repo)} is up to date: nothing changed")
    return 0


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def cmd_list(args: argparse.Namespace) -> int:
    from madash import status

    site = load_site(args.site)
    report = status.site_status(site, now())
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_status(report)
    for warning in report.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    return 0


def _print_status(report: SiteStatus) -> None:
    rows: list[tuple[str, ...]] = [("WHAT", "NAME", "SERIAL", "NOT AFTER", "STATUS")]
    rows.append(("ca", report.ca.name, report.ca.serial or "-", report.ca.not_after or "-", report.ca.status))
    rows.append(
        (
            "server",
            report.server.name,
            report.server.serial or "-",
            report.server.not_after or "-",
            report.server.status,
        )
    )
    rows.append(("crl", "crl.pem", f"{report.crl.revoked} revoked", report.crl.next_update or "-", report.crl.status))
    for host in report.hosts:
        rows.append(("host", host.name, host.serial or "-", host.not_after or "-", host.status))
    print(f"site: {report.site}")
    _print_table(rows)


# --- parser --------------------------------------------------------------------


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--site",
        type=Path,
        default=Path(os.environ.get("MADASH_SITE") or "."),
        metavar="DIR",
        help="the site directory (default: $MADASH_SITE, else the current directory)",
    )
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    init = commands.add_parser(
        "init",
        help="create a site: madash.toml, the CA, the server certificate, the CRL and the site secrets",
        description="Create a new site in the site directory. Refuses to touch an existing site without --force.",
    )
    init.add_argument(
        "--server",
        action="append",
        required=True,
        metavar="ADDR[,ADDR...]",
        help="IP addresses or DNS names of the monitoring server; all go into its certificate (repeatable)",
    )
    init.add_argument("--name", help="the site's name (default: the first server address)")
    init.add_argument(
        "--maintainer",
        metavar="'NAME <EMAIL>'",
        help="Maintainer of the site's packages (default: $DEBFULLNAME <$DEBEMAIL>, else a placeholder)",
    )
    init.add_argument(
        "--force", action="store_true", help="replace an existing site; its files are moved to replaced-DATE/"
    )
    init.add_argument(
        "--ca-passphrase",
        action="store_true",
        help=f"protect the CA key with a passphrase, asked on the terminal (or taken from ${PASSPHRASE_VARIABLE})",
    )
    init.set_defaults(func=cmd_init)

    revoke = commands.add_parser(
        "revoke",
        help="revoke a host's certificate and rewrite the CRL",
        description="Revoke HOST's certificate. The server refuses it once the new server package is installed.",
    )
    revoke.add_argument("host", metavar="HOST", help=f"the host name ({HOST_RULE})")
    revoke.set_defaults(func=cmd_revoke)

    renew = commands.add_parser(
        "renew",
        help="a new key and certificate for a host or the server; the old certificate is revoked",
        description="Issue a new key and certificate for HOST, or for the server with --server. "
        "The old certificate is revoked and the CRL rewritten.",
    )
    renew.add_argument("host", metavar="HOST", nargs="?", help="the host to renew")
    renew.add_argument("--server", action="store_true", help="renew the server certificate instead")
    renew.set_defaults(func=cmd_renew)

    client_cmd = commands.add_parser(
        "client",
        help="bake madash-client-HOST: Telegraf configuration, key and certificate for one host",
        description="Bake dist/madash-client-HOST_VERSION_all.deb. With options, first create or update "
        "[hosts.HOST] in madash.toml (keeping its comments); without, bake from the stored entry. "
        "A host's certificate is issued on its first bake. Identical inputs give the identical package.",
        epilog="features: smart (SMART via smartctl and sudo), sensors (lm-sensors), nvidia (nvidia-smi), "
        "docker (adds telegraf to the root-equivalent docker group), ups (apcupsd), internet (the site's "
        "connectivity probes; native ping with CAP_NET_RAW), vm (a virtual machine: no smart, sensors, ups)",
    )
    client_cmd.add_argument("host", metavar="HOST", nargs="?", help=f"the host name ({HOST_RULE})")
    client_cmd.add_argument("--all", action="store_true", help="bake every host in madash.toml")
    client_cmd.add_argument(
        "--feature", action="append", metavar="F", help="set the host's features to these (repeatable)"
    )
    client_cmd.add_argument("--no-features", action="store_true", help="set the host to the base metrics only")
    client_cmd.add_argument("--interval", help="collection interval, e.g. 10s or 1m")
    client_cmd.add_argument(
        "--tag", action="append", metavar="KEY=VALUE", help="set the host's extra tags (repeatable)"
    )
    client_cmd.add_argument(
        "--jobs", type=int, metavar="N", help="with --all: bake N hosts at once (default: the number of cores)"
    )
    client_cmd.set_defaults(func=cmd_client)

    server_cmd = commands.add_parser(
        "server",
        help="bake madash-server: Grafana, InfluxDB and the probe under compose, stunnel as the TLS door",
        description="Bake dist/madash-server_VERSION_all.deb from the site: its certificate, key, CA, CRL, "
        "secrets and madash.toml. Refuses an expired CRL (stunnel would lock every client out) and warns "
        "30 days ahead. Identical inputs give the identical package.",
    )
    server_cmd.add_argument(
        "--refresh-crl", action="store_true", help="first rewrite the CRL with a fresh next-update (needs the CA key)"
    )
    server_cmd.set_defaults(func=cmd_server)

    repo_cmd = commands.add_parser(
        "repo",
        help="publish dist/ as the site's signed apt repository in repo/",
        description="Publish the newest version of every package in dist/ into repo/: one suite per host "
        "(dists/host-HOST, pool/host-HOST) and a shared suite for the server and the toolkit, signed with the "
        "site's repository key (made on first use; its passphrase from $MADASH_REPO_PASSPHRASE). "
        "Publish repo/ with any web server, or point hosts at it with file://.",
    )
    repo_cmd.set_defaults(func=cmd_repo)

    listing = commands.add_parser(
        "list",
        help="the CA, server certificate, CRL and hosts with expiry and status",
        description="Show every certificate of the site with its serial, expiry and status "
        "(valid, expiring within 30 days, expired, revoked). Never shows a secret.",
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in arguments
    try:
        args = build_parser().parse_args(arguments)
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except MadashError as exc:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"{PROG}: hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so briefly, show details with --debug
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: internal error: {exc!r} (run with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
