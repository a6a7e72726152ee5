"""The few OpenPGP (RFC 4880) pieces an apt repository needs, over `cryptography`'s Ed25519.

A v4 Ed25519 ("EdDSA", algorithm 22, as gpg makes it) public key with one user ID,
binary and text signatures with SHA-512, clearsigned and armored output, and the
reading of one gpg-exported Ed25519 secret key (to move a key made by older madash
out of gpg's home). Nothing else: no encryption, no other algorithm, no keyring
parsing beyond that. gpgv and apt are the oracles in tests/test_openpgp.py.

Why not a library: python3-pgpy (0.6.0, last released 2022) works here, but leans on
cipher modes `cryptography` has moved to its "decrepit" module and will drop, and on
imghdr, gone in Python 3.13; its import alone costs ~100 ms.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from dataclasses import dataclass
from functools import cached_property

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519_OID = bytes.fromhex("2b06010401da470f01")  # 1.3.6.1.4.1.11591.15.1
EDDSA = 22
SHA512 = 10
BINARY, TEXT, POSITIVE_CERTIFICATION = 0x00, 0x01, 0x13
TAG_SIGNATURE, TAG_SECRET_KEY, TAG_PUBLIC_KEY, TAG_USER_ID = 2, 5, 6, 13


class OpenPGPError(ValueError):
    pass


def packet(tag: int, body: bytes) -> bytes:
    """A new-format packet (RFC 4880 4.2.2)."""
    size = len(body)
    if size < 192:
        length = bytes([size])
    elif size < 8384:
        length = bytes([((size - 192) >> 8) + 192, (size - 192) & 0xFF])
    else:
        length = b"\xff" + struct.pack(">I", size)
    return bytes([0xC0 | tag]) + length + body


def mpi(value: bytes) -> bytes:
    stripped = value.lstrip(b"\0")
    return struct.pack(">H", int.from_bytes(stripped, "big").bit_length()) + stripped


def _subpacket(kind: int, data: bytes) -> bytes:
    return bytes([len(data) + 1, kind]) + data  # every subpacket here is shorter than 191 bytes


@dataclass(frozen=True)
class Key:
    private: Ed25519PrivateKey
    created: int

    def public_body(self) -> bytes:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        curve = bytes([len(ED25519_OID)]) + ED25519_OID
        return struct.pack(">BIB", 4, self.created, EDDSA) + curve + mpi(b"\x40" + raw)

    @cached_property  # two signatures a suite, a thousand suites: computed once
    def fingerprint(self) -> bytes:
        body = self.public_body()
        return hashlib.sha1(b"\x99" + struct.pack(">H", len(body)) + body).digest()  # noqa: S324 - v4 fingerprints

    def signature(self, kind: int, hashed_data: bytes, extra: bytes = b"", when: int | None = None) -> bytes:
        """A v4 signature packet over hashed_data (already in the form its kind hashes)."""
        hashed = _subpacket(2, struct.pack(">I", int(time.time()) if when is None else when))
        hashed += _subpacket(33, b"\x04" + self.fingerprint) + extra
        head = struct.pack(">BBBB", 4, kind, EDDSA, SHA512) + struct.pack(">H", len(hashed)) + hashed
        digest = hashlib.sha512(hashed_data + head + b"\x04\xff" + struct.pack(">I", len(head))).digest()
        signed = self.private.sign(digest)  # EdDSA in OpenPGP signs the digest itself
        unhashed = _subpacket(16, self.fingerprint[-8:])
        body = head + struct.pack(">H", len(unhashed)) + unhashed + digest[:2] + mpi(signed[:32]) + mpi(signed[32:])
        return packet(TAG_SIGNATURE, body)

    def public_key(self, user_id: str) -> bytes:
        """The transferable public key: key, user ID and its self-signature (sign and certify)."""
        body, uid = self.public_body(), user_id.encode()
        hashed = b"\x99" + struct.pack(">H", len(body)) + body + b"\xb4" + struct.pack(">I", len(uid)) + uid
        flags = _subpacket(27, b"\x03") + _subpacket(21, bytes([SHA512]))
        certification = self.signature(POSITIVE_CERTIFICATION, hashed, flags, when=self.created)
        return packet(TAG_PUBLIC_KEY, body) + packet(TAG_USER_ID, uid) + certification


def _crc24_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
        table.append(crc & 0xFFFFFF)
    return tuple(table)


_CRC24 = _crc24_table()


def _crc24(data: bytes) -> bytes:
    """RFC 4880 6.1's checksum of the armor, a table lookup per byte."""
    crc = 0xB704CE
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFF) ^ _CRC24[(crc >> 16) ^ byte]
    return crc.to_bytes(3, "big")


def armor(signature: bytes) -> bytes:
    text = base64.b64encode(signature).decode()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    checksum = base64.b64encode(_crc24(signature)).decode()
    body = "\n".join(lines)
    return f"-----BEGIN PGP SIGNATURE-----\n\n{body}\n={checksum}\n-----END PGP SIGNATURE-----\n".encode()


def detached_signature(key: Key, data: bytes) -> bytes:
    """What `gpg --detach-sign --armor` makes: a binary-document signature, armored."""
    return armor(key.signature(BINARY, data))


def clearsign(key: Key, text: bytes) -> bytes:
    """What `gpg --clearsign` makes (RFC 4880 7): the text, dash-escaped, and its text signature.

    The line break before the signature belongs to the armor, so the text's own last one is
    not signed; trailing blanks are not signed either, and lines are hashed with CR LF.
    """
    if b"\r" in text:
        raise OpenPGPError("a clearsigned text must not hold carriage returns")
    body = text[:-1] if text.endswith(b"\n") else text
    lines = body.split(b"\n")
    canonical = b"\r\n".join(line.rstrip(b" \t") for line in lines)
    escaped = b"\n".join(b"- " + line if line.startswith(b"-") else line for line in lines)
    head = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n"
    return head + escaped + b"\n" + armor(key.signature(TEXT, canonical))


# --- a secret key exported by gpg ---------------------------------------------------------------


def _packets(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, body) of each packet; gpg's exports use new-format or old-format headers."""
    found, at = [], 0
    while at < len(data):
        first = data[at]
        if not first & 0x80:
            raise OpenPGPError("not an OpenPGP packet")
        if first & 0x40:
            tag, size_byte = first & 0x3F, data[at + 1]
            if size_byte < 192:
                size, at = size_byte, at + 2
            elif size_byte < 224:
                size, at = ((size_byte - 192) << 8) + data[at + 2] + 192, at + 3
            elif size_byte == 255:
                size, at = struct.unpack(">I", data[at + 2 : at + 6])[0], at + 6
            else:
                raise OpenPGPError("partial packet lengths are not expected in a key")
        else:
            tag, width = (first >> 2) & 0x0F, {0: 1, 1: 2, 2: 4}.get(first & 3)
            if width is None:
                raise OpenPGPError("indeterminate packet length")
            size, at = int.from_bytes(data[at + 1 : at + 1 + width], "big"), at + 1 + width
        found.append((tag, data[at : at + size]))
        at += size
    return found


def _s2k_key(passphrase: bytes, hash_name: str, salt: bytes, coded_count: int, size: int) -> bytes:
    """RFC 4880 3.7.1.3, iterated and salted: hash salt+passphrase repeated to `count` bytes."""
    count = (16 + (coded_count & 15)) << ((coded_count >> 4) + 6)
    unit = salt + passphrase
    count = max(count, len(unit))
    digest = hashlib.new(hash_name)
    whole, rest = divmod(count, len(unit))
    chunk = unit * max(1, 65536 // len(unit))
    for _ in range(whole // (len(chunk) // len(unit))):
        digest.update(chunk)
    digest.update(unit * (whole % (len(chunk) // len(unit))) + unit[:rest])
    key = digest.digest()
    if len(key) < size:
        raise OpenPGPError("unsupported S2K key size")
    return key[:size]


def _cfb_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """OpenPGP's CFB for secret keys is plain CFB-128, made here from the AES block function."""
    block = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - the block function of CFB
    plain, previous = bytearray(), iv
    for at in range(0, len(data), 16):
        chunk = data[at : at + 16]
        stream = block.update(previous)
        plain += bytes(a ^ b for a, b in zip(chunk, stream, strict=False))
        previous = chunk
    return bytes(plain)


def read_gpg_secret_key(data: bytes, passphrase: bytes) -> Key:
    """The Ed25519 primary key of `gpg --export-secret-keys` output, unprotected with passphrase."""
    packets = [body for tag, body in _packets(data) if tag == TAG_SECRET_KEY]
    if not packets:
        raise OpenPGPError("no secret key in gpg's export")
    body = packets[0]
    version, created, algorithm = struct.unpack(">BIB", body[:6])
    oid_size = body[6]
    if version != 4 or algorithm != EDDSA or body[7 : 7 + oid_size] != ED25519_OID:
        raise OpenPGPError("the key is not a v4 Ed25519 key")
    at = 7 + oid_size
    public_bits = struct.unpack(">H", body[at : at + 2])[0]
    at += 2 + (public_bits + 7) // 8
    usage = body[at]
    if usage == 0:
        secret = body[at + 1 :]
    elif usage == 254:
        cipher, s2k_type, hash_id = body[at + 1], body[at + 2], body[at + 3]
        sizes = {7: 16, 8: 24, 9: 32}
        if cipher not in sizes or s2k_type != 3 or hash_id not in (2, 8, 10):
            raise OpenPGPError("unsupported key protection")
        salt, coded = body[at + 4 : at + 12], body[at + 12]
        iv, encrypted = body[at + 13 : at + 29], body[at + 29 :]
        hash_name = {2: "sha1", 8: "sha256", 10: "sha512"}[hash_id]
        plain = _cfb_decrypt(_s2k_key(passphrase, hash_name, salt, coded, sizes[cipher]), iv, encrypted)
        secret, check = plain[:-20], plain[-20:]
        if hashlib.sha1(secret).digest() != check:  # noqa: S324 - RFC 4880's integrity check
            raise OpenPGPError("wrong passphrase")
    else:
        raise OpenPGPError("unsupported key protection")
    bits = struct.unpack(">H", secret[:2])[0]
    scalar = secret[2 : 2 + (bits + 7) // 8].rjust(32, b"\0")
    key = Key(Ed25519PrivateKey.from_private_bytes(scalar), created)
    if key.public_body() != body[:at]:
        raise OpenPGPError("the secret key does not match its public key")
    return key
