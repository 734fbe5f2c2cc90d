"""HPACK's Huffman code (RFC 7541 Appendix B), decoding only.

gRPC clients Huffman-encode header values (grpcio does for `user-agent`, `:authority`, custom
metadata); our answers are never Huffman-encoded, so only the decoder exists. The code is
canonical: each symbol's code follows from the code lengths alone (codes are handed out in order
of length, then symbol), so the table below is the RFC's "len" column and the codes are rebuilt
from it, which the tests check against the RFC's examples.

Decoding walks a table of 4-bit steps: from each state (an inner node of the code tree), a
nibble leads to another state and emits at most one symbol, so a byte costs two lookups.
"""

from __future__ import annotations

# RFC 7541 Appendix B, "len in bits", symbols 0..256 (256 is EOS).
# fmt: off
_LENGTHS = (
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
    30,
)
# fmt: on
EOS = 256


class HuffmanError(ValueError):
    """A string that is not a valid Huffman encoding (a decoding error of the connection)."""


def canonical_codes() -> list[tuple[int, int]]:
    """(code, length) of every symbol, rebuilt from the lengths."""
    codes = [(0, 0)] * len(_LENGTHS)
    code = 0
    previous = 0
    for symbol in sorted(range(len(_LENGTHS)), key=lambda s: (_LENGTHS[s], s)):
        length = _LENGTHS[symbol]
        code <<= length - previous
        codes[symbol] = (code, length)
        code += 1
        previous = length
    return codes


def _build() -> tuple[list[tuple[int, int, int]], list[bool]]:
    """The nibble automaton: transitions[state * 16 + nibble] = (next state, symbol or -1,
    fail flag), and whether ending in a state is valid padding (all ones, under 8 bits)."""
    # The code tree as child lists; node 0 is the root.
    children: list[list[int]] = [[-1, -1]]
    leaf: list[int] = [-1]
    for symbol, (code, length) in enumerate(canonical_codes()):
        node = 0
        for shift in range(length - 1, -1, -1):
            bit = (code >> shift) & 1
            if children[node][bit] < 0:
                children.append([-1, -1])
                leaf.append(-1)
                children[node][bit] = len(children) - 1
            node = children[node][bit]
        leaf[node] = symbol
    inner = [n for n in range(len(children)) if leaf[n] < 0]
    state_of = {node: i for i, node in enumerate(inner)}
    # A node reached by all-one bits from the root under 8 deep is acceptable padding.
    accepting = [False] * len(inner)
    node, depth = 0, 0
    while depth < 8 and leaf[node] < 0:
        accepting[state_of[node]] = True
        node = children[node][1]
        depth += 1
    transitions: list[tuple[int, int, int]] = []
    for node in inner:
        for nibble in range(16):
            # The shortest code is 5 bits, so a nibble completes at most one symbol.
            current, symbol, failed = node, -1, 0
            for shift in (3, 2, 1, 0):
                current = children[current][(nibble >> shift) & 1]
                if leaf[current] >= 0:
                    if leaf[current] == EOS:
                        failed = 1  # EOS inside a string is a decoding error
                    else:
                        symbol = leaf[current]
                    current = 0
            transitions.append((state_of[current], symbol, failed))
    return transitions, accepting


_TRANSITIONS, _ACCEPTING = _build()


def decode(data: bytes) -> bytes:
    """The octets a Huffman-encoded string stands for; HuffmanError for EOS or bad padding."""
    out = bytearray()
    state = 0
    table = _TRANSITIONS
    for byte in data:
        state, symbol, failed = table[(state << 4) | (byte >> 4)]
        if symbol >= 0:
            out.append(symbol)
        state, symbol, failed2 = table[(state << 4) | (byte & 15)]
        if symbol >= 0:
            out.append(symbol)
        if failed or failed2:
            raise HuffmanError("EOS in a Huffman-encoded string")
    if not _ACCEPTING[state]:
        raise HuffmanError("invalid padding at the end of a Huffman-encoded string")
    return bytes(out)
