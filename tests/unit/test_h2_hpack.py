"""HPACK decoding against RFC 7541 Appendix C (its own examples are the test vectors), and the
refusals that make a header block a connection error rather than a crash."""

from __future__ import annotations

import pytest

from modelship.serving.h2 import huffman
from modelship.serving.h2.hpack import Decoder, HpackError, encode_integer, encode_literal


def test_integers_of_appendix_c1() -> None:
    assert encode_integer(10, 5) == bytes([0b01010])
    assert encode_integer(1337, 5) == bytes([0b11111, 0b10011010, 0b00001010])
    assert encode_integer(42, 8) == bytes([42])
    # Decoded back: 1337 as an indexed field's index (7-bit prefix) is beyond any table.
    assert encode_integer(1337, 7, 0x80) == b"\xff\xba\x09"
    with pytest.raises(HpackError, match="index 1337"):
        Decoder().decode(b"\xff\xba\x09")


def test_the_field_representations_of_appendix_c2() -> None:
    decoder = Decoder()
    assert decoder.decode(
        bytes.fromhex("400a637573746f6d2d6b65790d637573746f6d2d686561646572")
    ) == [(b"custom-key", b"custom-header")]
    assert decoder.table_size == 55
    fresh = Decoder()
    assert fresh.decode(bytes.fromhex("040c2f73616d706c652f70617468")) == [
        (b":path", b"/sample/path")
    ]
    assert fresh.decode(bytes.fromhex("100870617373776f726406736563726574")) == [
        (b"password", b"secret")
    ]
    assert fresh.decode(b"\x82") == [(b":method", b"GET")]
    assert fresh.table_size == 0  # none of these is indexed


REQUEST_1 = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"),
             (b":authority", b"www.example.com")]  # fmt: skip


def test_requests_without_and_with_huffman_of_appendix_c3_and_c4() -> None:
    third = [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/index.html"),
             (b":authority", b"www.example.com"), (b"custom-key", b"custom-value")]  # fmt: skip
    plain = [
        "828684410f7777772e6578616d706c652e636f6d",
        "828684be58086e6f2d6361636865",
        "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
    ]
    coded = [
        "828684418cf1e3c2e5f23a6ba0ab90f4ff",
        "828684be5886a8eb10649cbf",
        "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
    ]
    for blocks in (plain, coded):
        decoder = Decoder()
        assert decoder.decode(bytes.fromhex(blocks[0])) == REQUEST_1
        assert decoder.table_size == 57
        assert decoder.decode(bytes.fromhex(blocks[1])) == [
            *REQUEST_1,
            (b"cache-control", b"no-cache"),
        ]
        assert decoder.table_size == 110
        assert decoder.decode(bytes.fromhex(blocks[2])) == third
        assert decoder.table_size == 164


def test_responses_with_huffman_and_eviction_of_appendix_c6() -> None:
    decoder = Decoder(max_table_size=256)
    date = b"Mon, 21 Oct 2013 20:13:21 GMT"
    first = [(b":status", b"302"), (b"cache-control", b"private"), (b"date", date),
             (b"location", b"https://www.example.com")]  # fmt: skip
    assert decoder.decode(bytes.fromhex(
        "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3"
    )) == first  # fmt: skip
    assert decoder.table_size == 222
    assert decoder.decode(bytes.fromhex("4883640effc1c0bf")) == [(b":status", b"307"), *first[1:]]
    assert decoder.table_size == 222  # ":status: 302" was evicted for ":status: 307"
    assert decoder.decode(bytes.fromhex(
        "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b"
        "3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007"
    )) == [
        (b":status", b"200"), (b"cache-control", b"private"),
        (b"date", b"Mon, 21 Oct 2013 20:13:22 GMT"), (b"location", b"https://www.example.com"),
        (b"content-encoding", b"gzip"),
        (b"set-cookie", b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"),
    ]  # fmt: skip
    assert decoder.table_size == 215


def test_every_symbol_decodes_from_its_canonical_code() -> None:
    codes = huffman.canonical_codes()
    assert codes[ord("/")] == (0x18, 6) and codes[0] == (0x1FF8, 13)
    assert codes[huffman.EOS] == (0x3FFFFFFF, 30)
    text = bytes(range(256))
    bits = 0
    length = 0
    for symbol in text:
        code, size = codes[symbol]
        bits, length = (bits << size) | code, length + size
    padding = -length % 8
    bits, length = (bits << padding) | ((1 << padding) - 1), length + padding
    assert huffman.decode(bits.to_bytes(length // 8, "big")) == text


def test_our_literals_decode_and_leave_the_table_alone() -> None:
    decoder = Decoder()
    block = encode_literal(b"content-type", b"application/grpc") + encode_literal(
        b"grpc-message", b"x" * 300
    )
    assert decoder.decode(block) == [(b"content-type", b"application/grpc"),
                                     (b"grpc-message", b"x" * 300)]  # fmt: skip
    assert decoder.table_size == 0


@pytest.mark.parametrize(
    ("block", "reason"),
    [
        (b"\x80", "index 0"),
        (b"\xbe", "beyond the dynamic table"),  # 62: the dynamic table is empty
        (b"\x41\x0a\x77\x77", "longer than its header block"),
        (b"\x41", "ends inside a field"),
        (encode_integer(4097, 5, 0x20), "above our limit"),  # a table size update
        (b"\x41\x81\xff", "padding"),  # 8 one-bits: padding longer than 7 bits
        (b"\x41\x84\xff\xff\xff\xff", "EOS"),
        (b"\x41\x81\x00", "padding"),  # "0" then padding of zeros
        (b"\x1f\xff\xff\xff\xff\xff\x01", "integer longer"),
    ],
)
def test_bad_header_blocks_are_decoding_errors(block: bytes, reason: str) -> None:
    with pytest.raises(HpackError, match=reason):
        Decoder().decode(block)


def test_a_size_update_evicts_and_an_oversized_entry_empties_the_table() -> None:
    decoder = Decoder()
    decoder.decode(bytes.fromhex("400a637573746f6d2d6b65790d637573746f6d2d686561646572"))
    assert decoder.table_size == 55
    decoder.decode(b"\x20")  # size update to 0
    assert decoder.table_size == 0
    with pytest.raises(HpackError):
        decoder.decode(b"\xbe")
    decoder.decode(b"\x3f\x11")  # back to 48 bytes: an entry of 55 does not fit
    decoder.decode(bytes.fromhex("400a637573746f6d2d6b65790d637573746f6d2d686561646572"))
    assert decoder.table_size == 0
