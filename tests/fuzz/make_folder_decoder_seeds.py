#!/usr/bin/env python3
"""Seeds for folder_decoder_fuzz: one valid input per folder shape and method
(layout in folder_decoder_fuzz.cpp), made with Python's lzma module.

    make_folder_decoder_seeds.py OUT_DIR
"""
import lzma
import os
import struct
import sys

COPY, LZMA, LZMA2, X86, PPC, IA64, ARM, ARMT, SPARC, ARM64, RISCV, DELTA, BCJ2 = range(13)
FILTERS = {X86: lzma.FILTER_X86, PPC: lzma.FILTER_POWERPC, IA64: lzma.FILTER_IA64, ARM: lzma.FILTER_ARM,
           ARMT: lzma.FILTER_ARMTHUMB, SPARC: lzma.FILTER_SPARC, DELTA: lzma.FILTER_DELTA}
if hasattr(lzma, "FILTER_ARM64"):
    FILTERS[ARM64] = lzma.FILTER_ARM64


def seed(shape, first, second, props, size, packed, lengths=()):
    head = bytes([shape, first, second, len(props)]) + bytes(props) + struct.pack("<I", size)[:3]
    return head + b"".join(struct.pack("<H", n) for n in lengths) + packed


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    text = b"".join(b"call \xe8\x10\x00\x00\x00 jump \xe9\x00\x01\x00\x00 line %d\n" % i for i in range(300))
    lzma2 = {"id": lzma.FILTER_LZMA2, "preset": 1, "dict_size": 1 << 16}
    lzma1 = {"id": lzma.FILTER_LZMA1, "preset": 1, "dict_size": 1 << 16}
    p2 = lzma._encode_filter_properties(lzma2)
    p1 = lzma._encode_filter_properties(lzma1)
    seeds = {
        "copy": seed(0, COPY, 0, b"", len(text), text),
        "lzma2": seed(0, LZMA2, 0, p2, len(text), lzma.compress(text, lzma.FORMAT_RAW, filters=[lzma2])),
        "lzma": seed(0, LZMA, 0, p1, len(text), lzma.compress(text, lzma.FORMAT_RAW, filters=[lzma1])),
        "bcj2-plain": seed(2, 0, 0, b"", 12, b"no branches!", (12, 0, 0)) + b"\x00" * 5,
        # Pack streams: call, jump, range coder, then the LZMA2 main stream.
        "bcj2-over-lzma2": seed(3, 0, LZMA2, p2, 12, b"\x00" * 5
                                + lzma.compress(b"no branches!", lzma.FORMAT_RAW, filters=[lzma2]), (0, 0, 5)),
        "riscv-alone": seed(0, RISCV, 0, b"", len(text), text),
    }
    for method, filter_id in FILTERS.items():
        chain = [{"id": filter_id}, lzma2] if filter_id != lzma.FILTER_DELTA else [{"id": filter_id, "dist": 4}, lzma2]
        packed = lzma.compress(text, lzma.FORMAT_RAW, filters=chain)
        props = lzma._encode_filter_properties(chain[0]) if filter_id == lzma.FILTER_DELTA else b""
        seeds["filter-%d" % method] = seed(1, method, LZMA2, p2, len(text), packed)
        seeds["filter-alone-%d" % method] = seed(0, method, 0, props, len(text), text)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
