"""Writes real RAR 5 archives for the tests (no RAR writer is free software): stored
members, and a compressed member of one repeated byte from a hand-made LZ + Huffman
block. Format: RAR 5.0 archive format (rarlab's technote) for the headers; the block
layout (flags, checksum, size; the 20 bit lengths, the 430-entry table coded with
them; main symbols 0-255 literals, 257 "repeat the last match", 262+ length slots)
as unrar's unpack50.cpp reads it. libarchive decodes what this writes (tests check)."""
from __future__ import annotations

import struct
import zlib
from filters.extract import encode_vint as _vint  # RAR 5 vint, as the checker reads it

SIGNATURE = b"Rar!\x1a\x07\x01\x00"



def _header(htype: int, flags: int, fields: bytes, data_size: int | None = None) -> bytes:
    body = _vint(htype) + _vint(flags | (0x02 if data_size is not None else 0))
    if data_size is not None:
        body += _vint(data_size)
    body += fields
    block = _vint(len(body)) + body
    return struct.pack("<I", zlib.crc32(block)) + block


class _Bits:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def put(self, value: int, count: int) -> None:
        self.bits.extend((value >> (count - 1 - i)) & 1 for i in range(count))

    def code(self, text: str) -> None:
        self.bits.extend(int(c) for c in text)

    def to_bytes(self) -> tuple[bytes, int]:
        used = len(self.bits) % 8 or 8
        bits = self.bits + [0] * (-len(self.bits) % 8)
        data = bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))
        return data, used


def repeated_byte_stream(byte: int, repeats: int) -> tuple[bytes, int]:
    """One compressed block: a literal, a 4,097-byte match at distance 1, then `repeats`
    one-bit "repeat the last match" symbols. Returns (packed data, unpacked size)."""
    bits = _Bits()
    # bit-length code (20 x 4 bits): symbols 1 and 2 get 2 bits, 19 (a long zero run) 1 bit
    lengths = [0] * 20
    lengths[1], lengths[2], lengths[19] = 2, 2, 1
    for n in lengths:
        bits.put(n, 4)
    one, two, zeros = "10", "11", "0"  # canonical codes: 19 -> 0, 1 -> 10, 2 -> 11

    def zero_run(n: int) -> None:
        while n:
            take = min(n, 138)
            bits.code(zeros)
            bits.put(take - 11, 7)
            n -= take

    # main table (306): literal `byte` 2 bits, 257 (repeat) 1 bit, 305 (longest length slot) 2 bits;
    # distance table (64): slots 0 and 1 one bit each; the low-distance and length tables empty
    table = [0] * 430
    table[byte], table[257], table[305], table[306], table[307] = 2, 1, 2, 1, 1
    i = 0
    while i < len(table):
        if table[i] == 0:
            run = 0
            while i + run < len(table) and table[i + run] == 0:
                run += 1
            if run >= 11:
                zero_run(run)
                i += run
                continue
            raise ValueError("short zero run")  # not needed for this table
        bits.code({1: one, 2: two}[table[i]])
        i += 1
    # main codes: 257 -> 0; then by symbol: byte -> 10, 305 -> 11 (byte < 305)
    bits.code("10")  # the literal
    bits.code("11")  # match, length slot 43: 9 extra bits, all ones -> 2 + 3584 + 511 = 4097
    bits.put(0x1FF, 9)
    bits.code("0")  # distance slot 0: distance 1
    for _ in range(repeats):
        bits.code("0")  # 257: the last length at the last distance
    data, used = bits.to_bytes()
    size = len(data)
    count = 1 if size < 256 else 2 if size < 65536 else 3
    flags = 0x80 | 0x40 | ((count - 1) << 3) | (used - 1)  # table present, last block
    check = (0x5A ^ flags ^ size ^ (size >> 8) ^ (size >> 16)) & 0xFF
    return bytes([flags, check]) + size.to_bytes(count, "little") + data, 1 + 4097 * (repeats + 1)


def archive(members: list[tuple[str, bytes, int | None, int]]) -> bytes:
    """members: (name, packed data, unpacked size as declared or None for "unknown" (file
    flag 0x08, allowed for streamed input), method 0 = stored, 1..5 compressed)."""
    out = SIGNATURE + _header(1, 0, _vint(0))
    for name, data, unpacked, method in members:
        raw = name.encode()
        file_flags = 0x08 if unpacked is None else 0
        fields = (_vint(file_flags) + _vint(unpacked or 0) + _vint(0x20) + _vint(method << 7) + _vint(0)
                  + _vint(len(raw)) + raw)
        out += _header(2, 0, fields, data_size=len(data)) + data
    return out + _header(5, 0, _vint(0))


def stored(name: str, data: bytes) -> tuple[str, bytes, int, int]:
    return name, data, len(data), 0


def bomb_member(name: str, unpacked_at_least: int, byte: int = 0, declare: int | None | str = "true"):
    """A compressed member of one repeated byte (~32,000:1); `declare` the size its header
    gives: "true" (the real one), a number (a lie) or None (unknown)."""
    repeats = max(0, -(-(unpacked_at_least - 4098) // 4097))
    if (repeats + 1) % 16 == 0:
        # libarchive 3.6 fails ("Unsupported block header size") when the block's last match
        # ends exactly where it pauses to flush its window (every 16 of these matches: 64 KiB, half its window)
        repeats += 1
    data, size = repeated_byte_stream(byte, repeats)
    return name, data, size if declare == "true" else declare, 1
