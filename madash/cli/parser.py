"""The argument parser of madash-build: every command, option and help text."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import NoReturn

from madash import __version__
from madash.cli import commands as commands_module
from madash.cli.commands import PASSPHRASE_VARIABLE, PROG
from madash.errors import UsageError
from madash.site import features
from madash.site.values import HOST_RULE

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

DEBUG_HELP = "log every command madash runs, with its duration, and show a traceback on errors"

# The end of every command's --help: what a newcomer would type. A test parses each one.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "init": ("madash-build --site ~/monitoring init --server 192.0.2.10,monitor.example.org --name 'home lab'",),
    "revoke": ("madash-build revoke laptop && madash-build server",),
    "renew": ("madash-build renew laptop && madash-build client laptop", "madash-build renew --server"),
    "client": (
        "madash-build client laptop --feature smart --feature sensors --tag room=office",
        "madash-build client --all --jobs 4",
    ),
    "server": ("madash-build server", "madash-build server --refresh-crl"),
    "repo": ("MADASH_REPO_PASSPHRASE=... madash-build repo",),
    "list": ("madash-build list --json",),
    "add-package": ("madash-build add-package ~/Downloads/telegraf_1.39.3-1_amd64.deb && madash-build repo",),
    "check": ("madash-build --site /srv/madash check   # from cron: mails only when something needs doing",),
    "grafana-cert": (
        "madash-build grafana-cert /etc/letsencrypt/live/monitor.example.org/{fullchain,privkey}.pem "
        "&& madash-build server",
        "madash-build grafana-cert --remove && madash-build server",
    ),
}


class Formatter(argparse.HelpFormatter):
    """Paragraphs are filled to the terminal's width, except the examples, kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.split("\n\n"):
            if paragraph.startswith("examples:"):
                paragraphs.append("\n".join(indent + line for line in paragraph.splitlines()))
            else:
                paragraphs.append(super()._fill_text(paragraph, width, indent))
        return "\n\n".join(paragraphs)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line plus a hint, like every other error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, hint=f"see '{self.prog} --help'")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"{text} is not from 1 to 1024")
    return value


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
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    # --debug is accepted after the command too; SUPPRESS keeps a subcommand from resetting it.
    common = Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    init = commands.add_parser(
        "init",
        parents=[common],
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
    init.set_defaults(func=commands_module.cmd_init)

    revoke = commands.add_parser(
        "revoke",
        parents=[common],
        help="revoke a host's certificate and rewrite the CRL",
        description="Revoke HOST's certificate. The server refuses it once the new server package is installed.",
    )
    revoke.add_argument("host", metavar="HOST", help=f"the host name ({HOST_RULE})")
    revoke.set_defaults(func=commands_module.cmd_revoke)

    renew = commands.add_parser(
        "renew",
        parents=[common],
        help="a new key and certificate for a host or the server; the old certificate is revoked",
        description="Issue a new key and certificate for HOST, or for the server with --server. "
        "The old certificate is revoked and the CRL rewritten.",
    )
    renew.add_argument("host", metavar="HOST", nargs="?", help="the host to renew")
    renew.add_argument("--server", action="store_true", help="renew the server certificate instead")
    renew.set_defaults(func=commands_module.cmd_renew)

    client_cmd = commands.add_parser(
        "client",
        parents=[common],
        help="bake madash-client-HOST: Telegraf configuration, key and certificate for one host",
        description="Bake dist/madash-client-HOST_VERSION_all.deb. With options, first create or update "
        "[hosts.HOST] in madash.toml (keeping its comments); without, bake from the stored entry. "
        "A host's certificate is issued on its first bake. Identical inputs give the identical package.",
        epilog=features.cli_help(),
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
        "--jobs", type=_positive, metavar="N", help="with --all: bake N hosts at once (default: the number of cores)"
    )
    client_cmd.set_defaults(func=commands_module.cmd_client)

    server_cmd = commands.add_parser(
        "server",
        parents=[common],
        help="bake madash-server: Grafana, InfluxDB and the probe under compose, stunnel as the TLS door",
        description="Bake dist/madash-server_VERSION_all.deb from the site: its certificate, key, CA, CRL, "
        "secrets and madash.toml. Refuses an expired CRL (stunnel would lock every client out) and warns "
        "30 days ahead. Identical inputs give the identical package.",
    )
    server_cmd.add_argument(
        "--refresh-crl", action="store_true", help="first rewrite the CRL with a fresh next-update (needs the CA key)"
    )
    server_cmd.set_defaults(func=commands_module.cmd_server)

    repo_cmd = commands.add_parser(
        "repo",
        parents=[common],
        help="publish dist/ as the site's signed apt repository in repo/",
        description="Publish the newest version of every package in dist/ into repo/: one suite per host "
        "(dists/host-HOST, pool/host-HOST) and a shared suite for the server and the toolkit, signed with the "
        "site's repository key (made on first use; its passphrase from $MADASH_REPO_PASSPHRASE). "
        "Publish repo/ with any web server, or point hosts at it with file://.",
    )
    repo_cmd.set_defaults(func=commands_module.cmd_repo)

    listing = commands.add_parser(
        "list",
        parents=[common],
        help="the CA, server certificate, CRL and hosts with expiry and status",
        description="Show every certificate of the site with its serial, expiry and status "
        "(valid, expiring within 30 days, expired, revoked). Never shows a secret.",
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=commands_module.cmd_list)

    check_cmd = commands.add_parser(
        "check",
        parents=[common],
        help="everything on the site that needs you, each with the command that fixes it",
        description="List what needs the admin: secrets or the site readable by others; the CA, server or host "
        "certificates and the CRL expiring or expired; hosts never baked; renewals and revocations not yet in a "
        "baked package; Grafana's own certificate expiring or no longer valid; packages baked but not published; "
        "repository signatures expiring; a missing repository "
        "key. Read-only. Exit status: 0 when nothing needs doing, 1 when something does, 2 on bad input, so "
        "that cron mails the output only when it matters.",
    )
    check_cmd.add_argument("--json", action="store_true", help="a JSON list of findings (what, subject, message, fix)")
    check_cmd.set_defaults(func=commands_module.cmd_check)

    add_package = commands.add_parser(
        "add-package",
        parents=[common],
        help="copy a package that is not madash's own (such as InfluxData's telegraf) into dist/ for the shared suite",
        description="Check FILE (a real .deb with valid control fields, not one of madash's packages, for an "
        "architecture the repository publishes; for telegraf, the program and unit madash relies on), copy it "
        "into dist/ and add its name to [repo] extra_packages in madash.toml. The next 'repo' publishes it in the "
        "shared suite, so a host installs Telegraf and its madash package in one 'apt install'.",
    )
    add_package.add_argument("file", metavar="FILE", type=Path, help="the .deb to add")
    add_package.set_defaults(func=commands_module.cmd_add_package)

    grafana_cert = commands.add_parser(
        "grafana-cert",
        parents=[common],
        help="give Grafana's port a certificate browsers already trust (from a public ACME CA, say)",
        description="Check CERT (the full chain, the server's certificate first) and KEY (unencrypted) and keep "
        "them in the site as pki/grafana.pem (0600): the chain must link up, the certificate must be for TLS "
        "servers, cover the host of Grafana's public URL ([grafana] public_url, else the first DNS name among "
        "the server's addresses) and be valid now, and the key must belong to it. The next 'server' bakes them "
        "into madash-server, whose stunnel then presents them on Grafana's port; the door for Telegraf keeps "
        "the site's own server certificate. Every bake checks the pair again, and 'check' warns 30 days before "
        "it expires. With --remove, Grafana's port goes back to the site's server certificate.",
    )
    grafana_cert.add_argument("cert", metavar="CERT", type=Path, nargs="?", help="the certificate chain (PEM)")
    grafana_cert.add_argument("key", metavar="KEY", type=Path, nargs="?", help="its private key (PEM)")
    grafana_cert.add_argument(
        "--remove", action="store_true", help="forget the supplied pair: Grafana's port gets the server certificate"
    )
    grafana_cert.set_defaults(func=commands_module.cmd_grafana_cert)

    for name, command in commands.choices.items():
        examples = "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[name])
        command.epilog = f"{command.epilog}\n\n{examples}" if command.epilog else examples
        command.formatter_class = Formatter
    return parser
