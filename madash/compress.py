"""Reproducible compression: the same bytes in give the same bytes out, on any machine and day."""

from __future__ import annotations

import gzip
import lzma


def gzip_bytes(data: bytes) -> bytes:
    """gzip with mtime 0 and no file name: what Debian's tools and apt accept, byte-reproducible."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def xz_bytes(data: bytes) -> bytes:
    # A 1 MiB dictionary: preset 6's 64 MiB only costs time on files this small.
    return lzma.compress(data, filters=[{"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": 1 << 20}])
