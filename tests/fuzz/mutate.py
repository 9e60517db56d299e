"""A seeded mutator for text formats: byte flips, non-UTF-8 bytes, token duplication/deletion,
number replacement (nan, inf, 1e400, -1, huge counts ...), line duplication/removal/swap, junk
insertion and truncation. ``mutate(data, rng)`` applies 1-3 operations; the same
``random.Random`` state always gives the same output."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

NUMBER = re.compile(rb"(?<![A-Za-z_])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
#: replacement values for numbers: specials, out-of-range, huge counts, negative, integer edges.
NUMBERS = [b"nan", b"NaN", b"inf", b"-inf", b"1e400", b"-1e400", b"-1", b"0", b"-0", b"7.5", b"1e9", b"1000000000",
           b"999999999999999999999", b"2147483648", b"-2147483649", b"9223372036854775808", b"1e-400", b"0x10",
           b"1.5", b"-999", b"", b"1e", b"--1", b"1,5"]  # fmt: skip
JUNK = [b"\xff", b"\xc3", b"\x80", b"\x00", b"\xfe\xff", b"\xe2\x28\xa1", b"<", b">", b"[", b"]", b"{", b"}", b'"',
        b"'", b"#", b"=", b",", b"\t", b"\r", b"\n", b" ", b"\\", b"(", b")"]  # fmt: skip


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True) or [b""]


def flip(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return bytes([rng.randrange(256)])
    i = rng.randrange(len(data))
    return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :]


def non_utf8(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.choice([b"\xff", b"\xc3", b"\x80", b"\xe2\x28\xa1", b"\xed\xa0\x80"]) + data[i:]


def junk(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + b"".join(rng.choice(JUNK) for _ in range(rng.randint(1, 4))) + data[i:]


def number(data: bytes, rng: random.Random) -> bytes:
    found = list(NUMBER.finditer(data))
    if not found:
        return junk(data, rng)
    m = rng.choice(found)
    return data[: m.start()] + rng.choice(NUMBERS) + data[m.end() :]


def _token_op(data: bytes, rng: random.Random, op: Callable[[list[bytes], int], None]) -> bytes:
    lines = _lines(data)
    k = rng.randrange(len(lines))
    body = lines[k].rstrip(b"\r\n")
    end = lines[k][len(body) :]
    tokens = body.split(b" ")
    op(tokens, rng.randrange(len(tokens)))
    lines[k] = b" ".join(tokens) + end
    return b"".join(lines)


def token_dup(data: bytes, rng: random.Random) -> bytes:
    return _token_op(data, rng, lambda t, i: t.insert(i, t[i]))


def token_del(data: bytes, rng: random.Random) -> bytes:
    return _token_op(data, rng, lambda t, i: t.pop(i))


def line_dup(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    k = rng.randrange(len(lines))
    lines.insert(k, lines[k])
    return b"".join(lines)


def line_del(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    lines.pop(rng.randrange(len(lines)))
    return b"".join(lines)


def line_swap(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"".join(lines)


def line_splice(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    lines.insert(rng.randrange(len(lines) + 1), rng.choice(lines))
    return b"".join(lines)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


OPERATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "flip": flip,
    "non_utf8": non_utf8,
    "junk": junk,
    "number": number,
    "number2": number,  # numbers are what parsers read most: twice the weight
    "token_dup": token_dup,
    "token_del": token_del,
    "line_dup": line_dup,
    "line_del": line_del,
    "line_swap": line_swap,
    "line_splice": line_splice,
    "truncate": truncate,
}


def mutate(data: bytes, rng: random.Random, *, ops: int | None = None) -> tuple[bytes, list[str]]:
    """``data`` with 1-3 random operations applied; returns the result and the operation names."""
    names = []
    for _ in range(ops if ops is not None else rng.choice((1, 1, 2, 3))):
        name = rng.choice(list(OPERATIONS))
        data = OPERATIONS[name](data, rng)
        names.append(name.rstrip("2"))
    return data, names
