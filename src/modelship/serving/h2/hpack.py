"""HPACK (RFC 7541): the header decoder of one connection, and the few encodings we send.

The decoder keeps the connection's dynamic table, so every header block of the connection must
pass through it in order, including blocks of streams we refuse. Our own header blocks use only
"literal without indexing" and static-table references, which leave the peer's dynamic table
untouched: the encoder is stateless, and answers are precomputed bytes.

Huffman-decoded strings are cached (grpcio sends the same values on every call until they are
indexed), which keeps decoding off the hot path.
"""

from __future__ import annotations

from modelship.serving.h2 import huffman

Header = tuple[bytes, bytes]

# RFC 7541 Appendix A, indices 1..61.
STATIC_TABLE: tuple[Header, ...] = (
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
)
_STATIC_LEN = len(STATIC_TABLE)
_ENTRY_OVERHEAD = 32  # RFC 7541 4.1: an entry's size is its name, its value and 32
_HUFFMAN_CACHE_LIMIT = 1024


class HpackError(ValueError):
    """A header block that cannot be decoded: a COMPRESSION_ERROR of the whole connection."""


class Decoder:
    """One connection's header decoder (RFC 7541 section 3)."""

    def __init__(self, max_table_size: int = 4096) -> None:
        # The limit we advertised in SETTINGS_HEADER_TABLE_SIZE: the peer may not exceed it.
        self._limit = max_table_size
        self._max_size = max_table_size
        self._size = 0
        # Newest first, as HPACK numbers them (index 62 is the newest entry).
        self._table: list[Header] = []
        self._huffman_cache: dict[bytes, bytes] = {}

    @property
    def table_size(self) -> int:
        return self._size

    def decode(self, block: bytes) -> list[Header]:
        """The header list of one complete header block (HEADERS plus any CONTINUATION)."""
        headers: list[Header] = []
        pos = 0
        end = len(block)
        try:
            while pos < end:
                byte = block[pos]
                if byte & 0x80:  # indexed header field
                    index, pos = _integer(block, pos, 0x7F)
                    headers.append(self._entry(index))
                elif byte & 0x40:  # literal with incremental indexing
                    header, pos = self._literal(block, pos, 0x3F)
                    headers.append(header)
                    self._add(header)
                elif byte & 0x20:  # dynamic table size update
                    size, pos = _integer(block, pos, 0x1F)
                    if size > self._limit:
                        raise HpackError(f"table size update {size} above our limit {self._limit}")
                    self._max_size = size
                    self._evict(0)
                else:  # literal without indexing (0000) or never indexed (0001)
                    header, pos = self._literal(block, pos, 0x0F)
                    headers.append(header)
        except IndexError as error:
            raise HpackError("header block ends inside a field") from error
        return headers

    def _entry(self, index: int) -> Header:
        if index == 0:
            raise HpackError("header index 0")
        if index <= _STATIC_LEN:
            return STATIC_TABLE[index - 1]
        dynamic = index - _STATIC_LEN - 1
        if dynamic >= len(self._table):
            raise HpackError(f"header index {index} beyond the dynamic table")
        return self._table[dynamic]

    def _literal(self, block: bytes, pos: int, mask: int) -> tuple[Header, int]:
        index, pos = _integer(block, pos, mask)
        if index:
            name = self._entry(index)[0]
        else:
            name, pos = self._string(block, pos)
        value, pos = self._string(block, pos)
        return (name, value), pos

    def _string(self, block: bytes, pos: int) -> tuple[bytes, int]:
        huffman_coded = block[pos] & 0x80
        length, pos = _integer(block, pos, 0x7F)
        end = pos + length
        if end > len(block):
            raise HpackError("string longer than its header block")
        raw = block[pos:end]
        if not huffman_coded:
            return raw, end
        decoded = self._huffman_cache.get(raw)
        if decoded is None:
            try:
                decoded = huffman.decode(raw)
            except huffman.HuffmanError as error:
                raise HpackError(str(error)) from error
            if len(self._huffman_cache) >= _HUFFMAN_CACHE_LIMIT:
                self._huffman_cache.clear()
            self._huffman_cache[raw] = decoded
        return decoded, end

    def _add(self, header: Header) -> None:
        size = len(header[0]) + len(header[1]) + _ENTRY_OVERHEAD
        if size > self._max_size:
            # RFC 7541 4.4: an entry larger than the table empties it and is not added.
            self._table.clear()
            self._size = 0
            return
        self._evict(size)
        self._table.insert(0, header)
        self._size += size

    def _evict(self, room: int) -> None:
        while self._size + room > self._max_size and self._table:
            name, value = self._table.pop()
            self._size -= len(name) + len(value) + _ENTRY_OVERHEAD


def _integer(block: bytes, pos: int, mask: int) -> tuple[int, int]:
    """An integer with an N-bit prefix (RFC 7541 5.1) at `pos`; the position after it."""
    value = block[pos] & mask
    pos += 1
    if value < mask:
        return value, pos
    shift = 0
    while True:
        byte = block[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise HpackError("integer longer than 4 continuation bytes")


def encode_integer(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """An integer with an N-bit prefix; `first` carries the representation's leading bits."""
    mask = (1 << prefix_bits) - 1
    if value < mask:
        return bytes((first | value,))
    out = bytearray((first | mask,))
    value -= mask
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_literal(name: bytes, value: bytes) -> bytes:
    """A literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2): it never
    changes the peer's table, so it can be precomputed and sent on any stream."""
    for index, (static_name, _) in enumerate(STATIC_TABLE, start=1):
        if static_name == name:
            head = encode_integer(index, 4)
            break
    else:
        head = b"\x00" + encode_integer(len(name), 7) + name
    return head + encode_integer(len(value), 7) + value


def encode_indexed(index: int) -> bytes:
    """An indexed header field (RFC 7541 6.1), e.g. 8 for `:status: 200`."""
    return encode_integer(index, 7, 0x80)
