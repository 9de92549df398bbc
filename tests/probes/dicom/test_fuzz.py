"""Fuzzing the requestor with hypothesis: whatever a peer sends, the only exception is ours.

Three kinds of input are fed in random-sized pieces, with or without EOF: random bytes;
generated PDUs (A-ASSOCIATE-AC item trees and P-DATA-TF PDVs whose lengths lie, whose fixed
parts run short, whose items nest or appear where they should not); and mutations of valid
exchanges (bytes flipped, inserted, deleted, length fields set to hostile values). The
connection may return events or raise :class:`DicomProtocolError`, nothing else, and never
loops: every drain is bounded. Random bytes alone rarely get past the first header, hence the
generators; the honest variants keep every length true so that the inner checks are reached.
"""

from __future__ import annotations

import contextlib
import itertools
import struct

from encoded_pdus import (
    ABORT_PROVIDER,
    ASSOCIATE_AC_DCMTK,
    ASSOCIATE_RJ_CALLED_AE,
    ASSOCIATE_RQ,
    C_ECHO_RSP_COMMAND,
    P_DATA_C_ECHO_RSP,
    RELEASE_RP,
    RELEASE_RQ,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pacsaudit.probes.dicom import dimse, pdu
from pacsaudit.probes.dicom.connection import (
    NEED_DATA,
    AssociationAborted,
    AssociationAccepted,
    AssociationRejected,
    ConnectionClosed,
    DimseMessage,
    Released,
    ReleaseRequested,
    RequestorConnection,
    Sentinel,
    State,
)
from pacsaudit.probes.dicom.errors import DicomProtocolError

EVENT_TYPES = (
    AssociationAccepted,
    AssociationRejected,
    AssociationAborted,
    DimseMessage,
    Released,
    ReleaseRequested,
    ConnectionClosed,
)
VALID_STREAMS = [
    ASSOCIATE_AC_DCMTK + P_DATA_C_ECHO_RSP + RELEASE_RP,
    ASSOCIATE_AC_DCMTK + P_DATA_C_ECHO_RSP + RELEASE_RQ,
    ASSOCIATE_AC_DCMTK + ABORT_PROVIDER,
    ASSOCIATE_RJ_CALLED_AE,
    ABORT_PROVIDER,
]
HOSTILE_LENGTHS = [0, 1, 2, 3, 4, 5, 6, 67, 68, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000, 0xFFFFFFFF]
C_FIND_RSP_COMMAND = dimse.encode_command_set(
    {
        dimse.Tag.AFFECTED_SOP_CLASS_UID: "1.2.840.10008.5.1.4.1.2.1.1",
        dimse.Tag.COMMAND_FIELD: dimse.CommandField.C_FIND_RSP,
        dimse.Tag.MESSAGE_ID_BEING_RESPONDED_TO: 1,
        dimse.Tag.COMMAND_DATA_SET_TYPE: 0x0000,
        dimse.Tag.STATUS: 0xFF00,
    }
)
ACCEPT_1_AND_3 = ASSOCIATE_AC_DCMTK.replace(b"\x03\x00\x03\x00\x40", b"\x03\x00\x00\x00\x40")
"""The DCMTK answer with context 3 accepted too, so that PDVs can interleave two contexts."""
MAX_PDU = 4096
MAX_MESSAGE = 8192


def run(stream: bytes, cuts: list[int], eof: bool) -> list[object]:
    """Feed ``stream`` in pieces, driving the connection like the probe does; return events.

    Raises only what the connection raises. Release is requested as soon as the association
    is accepted, so that every state of the table is reachable.
    """
    conn = RequestorConnection(max_pdu_receive=MAX_PDU, max_message=MAX_MESSAGE)
    conn.request(ASSOCIATE_RQ)
    events: list[object] = []
    bounds = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    pieces = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    if eof:
        pieces.append(b"")
    for piece in pieces:
        conn.receive_data(piece)
        for _ in range(len(stream) + 10):  # each event consumes at least one PDU
            event = conn.next_event()
            if isinstance(event, Sentinel):
                assert event is NEED_DATA
                break
            assert isinstance(event, EVENT_TYPES), event
            events.append(event)
            if isinstance(event, ConnectionClosed):
                return events
            if isinstance(event, AssociationAccepted):
                if 1 in conn.accepted_contexts:
                    conn.send_dimse(1, b"\x00" * 8)
                conn.release()
        else:
            raise AssertionError("next_event kept returning events")
    assert conn.state in set(State)
    return events


def mutate(stream: bytes, data: st.DataObject) -> bytes:
    buf = bytearray(stream)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        kind = data.draw(st.sampled_from(["flip", "insert", "delete", "length", "truncate"]))
        if not buf:
            break
        pos = data.draw(st.integers(0, len(buf) - 1), label="position")
        if kind == "flip":
            buf[pos] ^= data.draw(st.integers(1, 255), label="xor")
        elif kind == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=8), label="inserted")
        elif kind == "delete":
            del buf[pos : pos + data.draw(st.integers(1, 8), label="deleted")]
        elif kind == "length":
            value = data.draw(st.sampled_from(HOSTILE_LENGTHS), label="length")
            width = data.draw(st.sampled_from([2, 4]), label="width")
            buf[pos : pos + width] = (value & ((1 << 8 * width) - 1)).to_bytes(width, "big")
        else:
            del buf[pos:]
    return bytes(buf)


SUB_ITEMS = {0x20: [0x30, 0x40], 0x21: [0x40], 0x50: [0x51, 0x52, 0x53, 0x54, 0x55]}
"""Which sub-items each item holds (PS3.8 9.3.2-9.3.3); other types appear as noise."""
LEAF_VALUES = [b"1.2.840.10008.1.2", b"\x00\x00\x40\x00", b"OFFIS_DCMTK_367", b"", b"\x01"]
COMMANDS = [C_ECHO_RSP_COMMAND, C_FIND_RSP_COMMAND]


def lying(true_length: int, width: int) -> st.SearchStrategy[int]:
    """A length field: mostly true (so that decoding reaches the inner items), else off by a
    little or hostile."""
    top = (1 << 8 * width) - 1
    true = st.just(true_length)
    return st.one_of(
        true,
        true,
        true,
        st.integers(max(0, true_length - 4), min(top, true_length + 4)),
        st.sampled_from([v & top for v in HOSTILE_LENGTHS]),
    )


def leaf_values(item_type: int) -> st.SearchStrategy[bytes]:
    if item_type == 0x51:
        right = st.binary(min_size=4, max_size=4)
        return right | right | st.binary(max_size=6)
    return st.sampled_from(LEAF_VALUES) | st.binary(max_size=24)


@st.composite
def items(
    draw: st.DrawFn, kinds: tuple[int, ...] = (0x10, 0x21, 0x50), honest: bool = False
) -> bytes:
    """One Upper Layer item of a plausible kind (sometimes any), its sub-items drawn the same
    way, its fixed prefix sometimes short, its length sometimes a lie (never when honest)."""
    plausible = st.sampled_from(kinds)
    item_type = draw(plausible | plausible | plausible | st.integers(0, 255))
    if item_type in SUB_ITEMS:
        prefix = b""
        if item_type < 0x50:
            right = st.binary(min_size=4, max_size=4)
            prefix = draw(right | right | st.binary(max_size=5))
        subs = draw(st.lists(items(tuple(SUB_ITEMS[item_type]), honest), max_size=3))
        payload = prefix + b"".join(subs)
    else:
        payload = draw(leaf_values(item_type))
    length = len(payload) if honest else draw(lying(len(payload), 2))
    return struct.pack(">BBH", item_type, 0, length) + payload


@st.composite
def accept_pdus(draw: st.DrawFn) -> bytes:
    fixed = draw(st.just(ASSOCIATE_AC_DCMTK[6:74]) | st.binary(min_size=60, max_size=72))
    body = fixed + b"".join(draw(st.lists(items(), max_size=5)))
    return struct.pack(">BBL", 0x02, 0, draw(lying(len(body), 4))) + body


@st.composite
def p_data_pdus(draw: st.DrawFn, honest: bool = False) -> bytes:
    """A P-DATA-TF of 0-3 PDVs: whole commands, their fragments or noise, on accepted contexts
    (1, 3) or not, with any message control header; lengths lie unless honest."""
    pdvs = b""
    for _ in range(draw(st.integers(0 if not honest else 1, 3))):
        command = draw(st.sampled_from(COMMANDS))
        start = draw(st.integers(0, len(command)))
        data = draw(
            st.just(command)
            | st.just(command[start:])
            | st.just(command[:start])
            | st.binary(max_size=40)
        )
        context_id = draw(
            st.sampled_from([1, 3]) if honest else st.sampled_from([1, 3, 5]) | st.integers(0, 255)
        )
        mch = draw(st.integers(0, 3) | st.integers(0, 255))
        length = len(data) + 2 if honest else draw(lying(len(data) + 2, 4))
        pdvs += struct.pack(">LBB", length, context_id, mch) + data
    length = len(pdvs) if honest else draw(lying(len(pdvs), 4))
    return struct.pack(">BBL", 0x04, 0, length) + pdvs


def fixed_pdus(pdu_type: int) -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda body, reserved: struct.pack(">BBL", pdu_type, reserved, len(body)) + body,
        st.binary(min_size=3, max_size=5),
        st.sampled_from([0, 0, 0, 1, 0xFF]),
    )


later_pdus = st.one_of(
    p_data_pdus(),
    fixed_pdus(0x03),
    fixed_pdus(0x05),
    fixed_pdus(0x06),
    fixed_pdus(0x07),
    accept_pdus(),
    st.binary(min_size=1, max_size=12),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stream=st.binary(max_size=600),
    cuts=st.lists(st.integers(0, 600), max_size=6),
    eof=st.booleans(),
)
def test_random_bytes(stream: bytes, cuts: list[int], eof: bool) -> None:
    with contextlib.suppress(DicomProtocolError):
        run(stream, cuts, eof)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=accept_pdus() | accept_pdus() | st.just(ASSOCIATE_AC_DCMTK),
    later=st.lists(later_pdus, max_size=5),
    cuts=st.lists(st.integers(0, 2000), max_size=6),
    eof=st.booleans(),
)
def test_generated_exchanges(first: bytes, later: list[bytes], cuts: list[int], eof: bool) -> None:
    """Structured PDUs whose items and PDVs lie about their lengths, nest, or run short."""
    with contextlib.suppress(DicomProtocolError):
        run(first + b"".join(later), cuts, eof)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=st.lists(p_data_pdus(honest=True), min_size=1, max_size=6),
    cuts=st.lists(st.integers(0, 2000), max_size=4),
)
def test_generated_dimse_streams(messages: list[bytes], cuts: list[int]) -> None:
    """Well-framed P-DATA-TF on an accepted association: the message reassembly is reached
    every time, with fragments in any order and any control header."""
    with contextlib.suppress(DicomProtocolError):
        run(ACCEPT_1_AND_3 + b"".join(messages), cuts, eof=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(VALID_STREAMS),
    data=st.data(),
    cuts=st.lists(st.integers(0, 1000), max_size=6),
    eof=st.booleans(),
)
def test_mutated_valid_exchanges(
    base: bytes, data: st.DataObject, cuts: list[int], eof: bool
) -> None:
    stream = mutate(base, data)
    with contextlib.suppress(DicomProtocolError):
        run(stream, cuts, eof)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(variable=st.lists(items(honest=True), max_size=6))
def test_accept_decoder_alone(variable: list[bytes]) -> None:
    """The A-ASSOCIATE-AC item tree with honest lengths, so that every item is reached and
    only the checks of fixed sizes and prefixes stand between a short item and a crash."""
    try:
        accept = pdu.parse_body(0x02, ASSOCIATE_AC_DCMTK[6:74] + b"".join(variable))
    except DicomProtocolError:
        return
    assert isinstance(accept, pdu.AssociateAccept)


@settings(max_examples=300, deadline=None)
@given(pdu_type=st.integers(0, 255), body=st.binary(max_size=300))
def test_pdu_decoder_alone(pdu_type: int, body: bytes) -> None:
    raw = struct.pack(">BBL", pdu_type, 0, len(body)) + body
    try:
        header = pdu.parse_header(raw, MAX_PDU)
        assert header is not None
        pdu.parse_body(header[0], body)
    except DicomProtocolError:
        pass


def test_unmutated_streams_run_clean() -> None:
    """The harness itself: valid exchanges give their events and no error."""
    accepted = run(ACCEPT_1_AND_3, [], eof=False)
    assert isinstance(accepted[0], AssociationAccepted)
    assert [c.result for c in accepted[0].accept.contexts] == [0, 0]
    for stream in VALID_STREAMS:
        events = run(stream, [], eof=True)
        assert isinstance(events[-1], ConnectionClosed)
        assert len(events) >= 2
