"""The one way madash runs another program.

argv lists only (never a shell), a C.UTF-8 locale so that output is parseable,
an environment built from an allow-list (so that MADASH_CA_PASSPHRASE and the
like never reach a child), every command logged shell-quoted with its duration
under --debug, and failures raised as ToolError with the command and the tail of
its stderr. Secrets go through ``input`` or files, never argv: argv is visible in ps.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from madash.errors import ToolError

# Which Debian package brings each program we call, for the "install it" hint.
DEBIAN_PACKAGE_OF = {
    "apt-ftparchive": "apt-utils",
    "dpkg-deb": "dpkg",
    "gpg": "gpg",
    "gpgconf": "gpgconf",
    "gpgv": "gpgv",
    "lintian": "lintian",
    "ssh": "openssh-client",
}

STDERR_TAIL_LINES = 5
# What a child may inherit: where programs are, and where to put temporary files.
ENVIRONMENT_ALLOWED = ("PATH", "HOME", "TMPDIR", "TZ")
log = logging.getLogger(__name__)


def _tail(text: bytes) -> str:
    lines = text.decode("utf-8", "replace").strip().splitlines()
    return " | ".join(line.strip() for line in lines[-STDERR_TAIL_LINES:])


def require(program: str) -> str:
    """The full path of ``program``, or a ToolError naming its Debian package."""
    found = shutil.which(program)
    if found is None:
        package = DEBIAN_PACKAGE_OF.get(program, program)
        raise ToolError(
            f"{program} is not installed",
            hint=f"install it with: apt-get install {package}",
        )
    return found


def run(
    argv: Sequence[str | Path],
    *,
    input: bytes | None = None,  # noqa: A002 - mirrors subprocess.run
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    umask: int = 0o077,
) -> subprocess.CompletedProcess[bytes]:
    """Run argv to completion, capturing output; raise ToolError on failure."""
    args = [str(arg) for arg in argv]
    args[0] = require(args[0])
    full_env = {name: os.environ[name] for name in ENVIRONMENT_ALLOWED if name in os.environ}
    full_env.update({"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"})
    if env:
        full_env.update(env)
    shown = shlex.join(args)
    started = time.monotonic()
    try:
        result = subprocess.run(
            args,
            input=input,
            env=full_env,
            cwd=cwd,
            capture_output=True,
            check=False,
            # What a tool creates on its own (gpg's keyring, dpkg-deb's output) is the owner's
            # only; madash gives every file it keeps its mode explicitly (rsync's copies: by --chmod,
            # which the umask would mask).
            umask=umask,
        )
    except OSError as exc:
        raise ToolError(f"cannot run {argv[0]}: {exc.strerror}", command=args) from exc
    elapsed = time.monotonic() - started
    log.debug("ran %s (exit %d, %.3f s)", shown, result.returncode, elapsed)
    if result.returncode != 0:
        log.debug("stderr of %s: %s", Path(args[0]).name, _tail(result.stderr or result.stdout))
    if check and result.returncode != 0:
        raise ToolError(
            f"{Path(args[0]).name} failed with exit code {result.returncode}",
            command=args,
            stderr_tail=_tail(result.stderr or result.stdout),
        )
    return result
