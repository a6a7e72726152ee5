"""Reproducible compression: the same bytes in give the same bytes out, on any machine and day."""

from __future__ import annotations

import gzip


def gzip_bytes(data: bytes) -> bytes:
    """gzip with mtime 0 and no file name: what Debian's tools and apt accept, byte-reproducible."""
    return gzip.compress(data, compresslevel=9, mtime=0)
