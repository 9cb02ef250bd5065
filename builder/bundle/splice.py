"""Joining deflate streams compressed apart into one stream, as pigz joins its pieces.

A compressor that can only compress a whole buffer (libdeflate) ends every stream with a final
block (BFINAL set) and zero bits up to the next byte. To follow it with the next piece's stream,
that bit is cleared and an empty stored block (3 header bits, padding to the byte, LEN 0000, NLEN
FFFF) ends the piece on a byte boundary, which is what zlib's Z_SYNC_FLUSH writes. Where the final
block starts is known only by decoding the stream: zlib's inflate with Z_BLOCK stops at every block
boundary and tells the bit position (the way zlib's examples/gzjoin.c finds it). Decoding is fully
specified by RFC 1951, so any zlib (or zlib-ng's compatible one) finds the same position: the
joined bytes depend on the compressor alone.

Python's own zlib module does not expose Z_BLOCK, so the system libz it is built on is called
through ctypes (which releases the GIL: pieces are scanned in parallel threads).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

from ..errors import PackError

Z_OK, Z_BLOCK = 0, 5
SYNC_MARK = b"\x00\x00\xff\xff"  # LEN and NLEN of an empty stored block
_OUT = 1 << 18  # decoded bytes per inflate call (thrown away: only positions matter)


class _ZStream(ctypes.Structure):
    # zlib.h's z_stream, unchanged since zlib 1.0 (zlib-ng's compatible build keeps it too).
    _fields_ = [
        ("next_in", ctypes.c_void_p), ("avail_in", ctypes.c_uint), ("total_in", ctypes.c_ulong),
        ("next_out", ctypes.c_void_p), ("avail_out", ctypes.c_uint), ("total_out", ctypes.c_ulong),
        ("msg", ctypes.c_char_p), ("state", ctypes.c_void_p),
        ("zalloc", ctypes.c_void_p), ("zfree", ctypes.c_void_p), ("opaque", ctypes.c_void_p),
        ("data_type", ctypes.c_int), ("adler", ctypes.c_ulong), ("reserved", ctypes.c_ulong),
    ]


@functools.cache
def _libz() -> Any:
    name = ctypes.util.find_library("z")
    try:
        lib = ctypes.CDLL(name or "libz.so.1")
    except OSError as err:
        msg = f"packing needs the system zlib (libz.so.1) to join compressed pieces: {err}; install zlib1g"
        raise PackError(msg) from err
    lib.zlibVersion.restype = ctypes.c_char_p
    lib.inflateInit2_.argtypes = [ctypes.POINTER(_ZStream), ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.inflate.argtypes = [ctypes.POINTER(_ZStream), ctypes.c_int]
    lib.inflateEnd.argtypes = [ctypes.POINTER(_ZStream)]
    return lib


def final_block(stream: bytes | bytearray) -> tuple[int, int]:
    """(bit where the final block's header starts, bit where the stream ends) of a raw deflate stream."""
    lib = _libz()
    size = len(stream)
    src = (ctypes.c_char * size).from_buffer_copy(stream) if isinstance(stream, bytes) else \
        (ctypes.c_char * size).from_buffer(stream)
    out = ctypes.create_string_buffer(_OUT)
    z = _ZStream()
    if lib.inflateInit2_(ctypes.byref(z), -15, lib.zlibVersion(), ctypes.sizeof(_ZStream)) != Z_OK:
        msg = "the system zlib refused to start decoding (inflateInit2)"
        raise PackError(msg)
    try:
        z.next_in, z.avail_in = ctypes.addressof(src), size
        block_start = 0
        while True:
            z.next_out, z.avail_out = ctypes.addressof(out), _OUT
            ret = lib.inflate(ctypes.byref(z), Z_BLOCK)
            if ret != Z_OK:  # Z_BUF_ERROR: cut short; Z_STREAM_END comes only after the return below
                msg = f"a compressed piece does not decode (zlib inflate returned {ret}): the compressor is broken"
                raise PackError(msg)
            if z.data_type & 128:  # just after a block's end-of-block code (bits unused in the byte: & 7)
                position = (size - z.avail_in) * 8 - (z.data_type & 7)
                if z.data_type & 64:  # ... of the final block
                    return block_start, position
                block_start = position
    finally:
        lib.inflateEnd(ctypes.byref(z))


def continuable(stream: bytearray) -> bytearray:
    """`stream` made a non-final, byte-aligned run of blocks that the next stream can follow (in place)."""
    header, end = final_block(stream)
    stream[header >> 3] &= ~(1 << (header & 7)) & 0xFF
    free = len(stream) * 8 - end  # zero bits after the last block, in the last byte
    if free < 3:  # the stored block's 3 header bits do not fit there
        stream.append(0)
    stream += SYNC_MARK
    return stream
