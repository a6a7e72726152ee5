#!/usr/bin/python3
"""A stand-in for the web server an admin puts in front of repo/ (see the README's repository section).

TLS with the site's server certificate, a client certificate signed by the site CA required, and each
host let into the shared suite and its own suite only (the certificate's CN is the host). Used in
process by tests/test_repo_chroot.py, and run as a program inside the booted server container by
tests/test_booted.py (Debian's python3, standard library only):

    repo_server.py DIRECTORY ADDRESS PORT CERT KEY CA
"""

from __future__ import annotations

import functools
import http.server
import ssl
import sys


class PerHostRepository(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def allowed(self) -> bool:
        certificate = self.connection.getpeercert()
        subject = dict(item[0] for item in certificate["subject"])
        path = self.path.split("?")[0]
        own = (f"/dists/host-{subject['commonName']}/", f"/pool/host-{subject['commonName']}/")
        return path.startswith(("/dists/shared/", "/pool/shared/", *own))

    def do_GET(self) -> None:
        if not self.allowed():
            self.send_error(403)
            return
        super().do_GET()

    def do_HEAD(self) -> None:
        if not self.allowed():
            self.send_error(403)
            return
        super().do_HEAD()


def make_server(
    directory: str, address: str, port: int, cert: str, key: str, ca: str
) -> http.server.ThreadingHTTPServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.load_verify_locations(ca)
    context.verify_mode = ssl.CERT_REQUIRED
    handler = functools.partial(PerHostRepository, directory=directory)
    server = http.server.ThreadingHTTPServer((address, port), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


if __name__ == "__main__":
    directory, address, port, cert, key, ca = sys.argv[1:]
    make_server(directory, address, int(port), cert, key, ca).serve_forever()
