"""madash-server's repository server: Debian's nginx, run by madash-repo.service on madash's own file.

Each host gets its own suite (dists/host-HOST/, pool/host-HOST/) only with the
certificate whose CN is HOST, the shared suite with any certificate of the site
CA that is not revoked, and nothing else (see conf/repo-nginx.conf.j2). The
server package calls these functions; they know nothing of its other files.
"""

from __future__ import annotations

from typing import Any

from madash.deb.spec import FileEntry
from madash.packages import reread
from madash.render import render
from madash.site.config import SiteConfig
from madash.site.values import url_host

UNIT = "madash-repo.service"
USER = "madash-repo"  # a system user of its own: reads the repository, nothing else
RUN_DIR_NAME = "madash-repo"
RUN_DIR = f"/run/{RUN_DIR_NAME}"
# Where LoadCredential= puts the copy of the server key systemd hands the unit.
KEY = f"/run/credentials/{UNIT}/server.key"
# The door's TLS 1.2 suites (conf/stunnel.conf.j2); tests/test_repo_server.py holds the two equal.
CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)
DEPENDS = "nginx, adduser"
_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
_TEMP_DIRS = {"client_body": "body"}


def listen(config: SiteConfig) -> tuple[str, ...]:
    """nginx's listen addresses: the door's, at the repository's port (IPv6 in brackets)."""
    port = config.server.repo_port
    return tuple(f"{url_host(address)}:{port}" for address in config.server.listen_addresses())


def context(config: SiteConfig, *, etc: str, tls: str, data_dir: str) -> dict[str, Any]:
    return {
        "repo_conf": f"{etc}/repo-nginx.conf",
        "repo_dir": f"{data_dir}/repo",
        "repo_user": USER,
        "repo_port": config.server.repo_port,
        "repo_low_port": config.server.repo_port < 1024,
        "run_dir": RUN_DIR,
        "run_dir_name": RUN_DIR_NAME,
        "tls": tls,
        "data_dir": data_dir,
        "key": KEY,
        "ciphers": CIPHERS,
        "listen": listen(config),
    }


def files(config: SiteConfig, repo: dict[str, Any]) -> list[FileEntry]:
    """The unit always (it starts nothing without the configuration), the configuration when serving."""
    unit = FileEntry(f"/lib/systemd/system/{UNIT}", render(f"debian/server/{UNIT}.j2", repo).encode())
    if not config.repo.serve:
        return [unit]
    conf = render("conf/repo-nginx.conf.j2", repo).encode()
    return [unit, FileEntry(repo["repo_conf"], conf, conffile=True)]


def expected(repo: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    """Every directive the configuration must hold, in order, with its arguments."""
    tls, run = repo["tls"], repo["run_dir"]
    server = "http[]/server[]"
    host_location = f"{server}/location[~ ^/(dists|pool)/host-(?<madash_uri_host>[a-z0-9-]+)/]"
    return [
        ("daemon", ("off",)), ("worker_processes", ("auto",)), ("pid", (f"{run}/nginx.pid",)),
        ("error_log", ("stderr", "notice")), ("events", ()), ("events[]/worker_connections", ("1024",)),
        ("http", ()), ("http[]/server_tokens", ("off",)), ("http[]/access_log", ("off",)), ("http[]/sendfile", ("on",)),
        ("http[]/types", ()), ("http[]/types[]/application/vnd.debian.binary-package", ("deb",)),
        ("http[]/default_type", ("application/octet-stream",)),
        *((f"http[]/{name}_temp_path", (f"{run}/{_TEMP_DIRS.get(name, name)}",)) for name in _TEMP_PATHS),
        ("http[]/map", ("$ssl_client_s_dn", "$madash_client_host")),
        ("http[]/map[$ssl_client_s_dn $madash_client_host]/default", ("",)),
        ("http[]/map[$ssl_client_s_dn $madash_client_host]/~^CN=([a-z0-9-]+)(,|$)", ("$1",)),
        ("http[]/server", ()),
        *((f"{server}/listen", (address, "ssl")) for address in repo["listen"]),
        (f"{server}/ssl_certificate", (f"{tls}/server.crt",)), (f"{server}/ssl_certificate_key", (repo["key"],)),
        (f"{server}/ssl_protocols", ("TLSv1.2", "TLSv1.3")), (f"{server}/ssl_ciphers", (CIPHERS,)),
        (f"{server}/ssl_prefer_server_ciphers", ("on",)), (f"{server}/ssl_client_certificate", (f"{tls}/ca.crt",)),
        (f"{server}/ssl_crl", (f"{tls}/crl.pem",)), (f"{server}/ssl_verify_client", ("on",)),
        (f"{server}/ssl_verify_depth", ("1",)), (f"{server}/root", (repo["repo_dir"],)),
        (f"{server}/autoindex", ("off",)),
        (f"{server}/location", ("/",)), (f"{server}/location[/]/return", ("404",)),
        (f"{server}/location", ("~", "/\\.")), (f"{server}/location[~ /\\.]/return", ("404",)),
        (f"{server}/location", ("/dists/shared/",)), (f"{server}/location", ("/pool/shared/",)),
        (f"{server}/location", ("~", "^/(dists|pool)/host-(?<madash_uri_host>[a-z0-9-]+)/")),
        (f"{host_location}/if", ("($madash_uri_host", "!=", "$madash_client_host)")),
        (f"{host_location}/if[($madash_uri_host != $madash_client_host)]/return", ("403",)),
    ]  # fmt: skip


def reread_conf(path: str, text: str, repo: dict[str, Any]) -> None:
    reread.nginx_conf(path, text, expected(repo))
