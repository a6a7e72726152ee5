"""File modes, named once: every file madash writes gets one of these, never the umask's choice."""

from __future__ import annotations

DIR = 0o755
FILE = 0o644
EXEC = 0o755
SECRET = 0o600  # keys, passwords: the owner only
PRIVATE_DIR = 0o700  # directories that hold secrets
SUDOERS = 0o440  # what sudo and visudo insist on
