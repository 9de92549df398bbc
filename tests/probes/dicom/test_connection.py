"""The sans-IO requestor: bytes in, events out, every state check in one table (PS3.8 9.2).

Nothing here opens a socket: the tests feed bytes to :class:`RequestorConnection` exactly as a
transport would, in whole PDUs, split at every point, byte by byte, or with EOF in between.
"""

from __future__ import annotations

import struct

import pytest
from encoded_pdus import (
    ABORT_PROVIDER,
    AC_MAX_LENGTH_SUBITEM,
    ASSOCIATE_AC_DCMTK,
    ASSOCIATE_RJ_CALLED_AE,
    ASSOCIATE_RQ,
    C_ECHO_RSP_COMMAND,
    DCMTK_UID,
    IMPLICIT_VR_LE,
    P_DATA_C_ECHO_RSP,
    RELEASE_RP,
    RELEASE_RQ,
)

from pacsaudit.probes.dicom import dimse, pdu
from pacsaudit.probes.dicom.connection import (
    NEED_DATA,
    AssociationAborted,
    AssociationAccepted,
    AssociationRejected,
    ConnectionClosed,
    DimseMessage,
    Event,
    Released,
    ReleaseRequested,
    RequestorConnection,
    Sentinel,
    State,
)
from pacsaudit.probes.dicom.dimse import CommandField, Tag
from pacsaudit.probes.dicom.errors import DicomProtocolError, NotDicomError

HTTP_RESPONSE = (
    b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\n"
    b"Content-Length: 150\r\nConnection: close\r\n\r\n<html><head><title>400</title></head>"
)
FIND = "1.2.840.10008.5.1.4.1.2.1.1"


def drain(conn: RequestorConnection, limit: int = 100) -> list[Event]:
    """Every event available now, stopping at NEED_DATA or ConnectionClosed."""
    events: list[Event] = []
    for _ in range(limit):
        event = conn.next_event()
        if isinstance(event, Sentinel):
            assert event is NEED_DATA
            return events
        events.append(event)
        if isinstance(event, ConnectionClosed):
            return events
    raise AssertionError(f"more than {limit} events")


def awaiting(**kwargs: int) -> RequestorConnection:
    conn = RequestorConnection(**kwargs)
    assert conn.request(ASSOCIATE_RQ) == ASSOCIATE_RQ
    assert conn.state is State.AWAITING_AC
    return conn


def accept_pdu(contexts: list[tuple[int, int]], max_length: int = 16384) -> bytes:
    """An A-ASSOCIATE-AC with (context id, result) pairs, Implicit VR LE for each."""
    ts = IMPLICIT_VR_LE.encode()
    items = b"".join(
        struct.pack(">BBHBBBB", 0x21, 0, 4 + 4 + len(ts), cid, 0, result, 0)
        + struct.pack(">BBH", 0x40, 0, len(ts))
        + ts
        for cid, result in contexts
    )
    user = struct.pack(">BBHL", 0x51, 0, 4, max_length)
    user += struct.pack(">BBH", 0x52, 0, len(DCMTK_UID)) + DCMTK_UID.encode()
    items += struct.pack(">BBH", 0x50, 0, len(user)) + user
    body = ASSOCIATE_AC_DCMTK[6:74] + items
    return struct.pack(">BBL", 2, 0, len(body)) + body


def established(
    contexts: list[tuple[int, int]] | None = None, max_length: int = 16384, **kwargs: int
) -> RequestorConnection:
    conn = awaiting(**kwargs)
    conn.receive_data(accept_pdu(contexts or [(1, 0), (3, 0), (5, 3)], max_length))
    (event,) = drain(conn)
    assert isinstance(event, AssociationAccepted)
    assert conn.state is State.ESTABLISHED
    return conn


def p_data(*pdvs: tuple[int, int, bytes]) -> bytes:
    return pdu.encode_p_data(list(pdvs))


FIND_RSP_PENDING = dimse.encode_command_set(
    {
        Tag.AFFECTED_SOP_CLASS_UID: FIND,
        Tag.COMMAND_FIELD: CommandField.C_FIND_RSP,
        Tag.MESSAGE_ID_BEING_RESPONDED_TO: 1,
        Tag.COMMAND_DATA_SET_TYPE: 0x0000,
        Tag.STATUS: 0xFF00,
    }
)


class TestAssociation:
    def test_nothing_fed_needs_data(self) -> None:
        assert awaiting().next_event() is NEED_DATA

    def test_accepted(self) -> None:
        conn = awaiting()
        conn.receive_data(ASSOCIATE_AC_DCMTK)
        (event,) = drain(conn)
        assert isinstance(event, AssociationAccepted)
        assert event.accept.implementation_class_uid == DCMTK_UID
        assert conn.state is State.ESTABLISHED
        assert conn.accepted_contexts == {1: IMPLICIT_VR_LE}  # context 3 was refused
        assert conn.peer_max_pdu == 16384

    def test_rejected(self) -> None:
        conn = awaiting()
        conn.receive_data(ASSOCIATE_RJ_CALLED_AE)
        assert drain(conn) == [AssociationRejected(pdu.AssociateReject(1, 1, 7))]
        assert conn.state is State.CLOSED

    def test_aborted(self) -> None:
        conn = awaiting()
        conn.receive_data(ABORT_PROVIDER)
        assert drain(conn) == [AssociationAborted(pdu.Abort(2, 6))]
        assert conn.state is State.CLOSED

    def test_request_only_once(self) -> None:
        conn = awaiting()
        with pytest.raises(RuntimeError, match="Sta5"):
            conn.request(ASSOCIATE_RQ)

    def test_missing_max_length_means_unlimited(self) -> None:
        conn = awaiting()
        body = ASSOCIATE_AC_DCMTK[6:74]
        conn.receive_data(struct.pack(">BBL", 2, 0, len(body)) + body)
        (event,) = drain(conn)
        assert isinstance(event, AssociationAccepted)
        assert conn.peer_max_pdu == 0
        assert conn.accepted_contexts == {}


class TestNotDicom:
    @pytest.mark.parametrize(
        "first_bytes",
        [
            HTTP_RESPONSE,
            b"SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n",
            b"220 ftp.example.test FTP server ready\r\n",
            b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03",  # a TLS ServerHello
            b"\x02\x55\x00\x00\x00\xd5",  # A-ASSOCIATE-AC type with a non-zero second byte
            b"\x03\x00\x00\x00\x01\x00\x00\x00",  # RJ type with a length that is not 4
            b"\x07\x00\x00\x00\x00\x05",  # ABORT type with a length that is not 4
            b"\x04\x00\x00\x00\x00\x4a",  # P-DATA-TF can never be an answer to a request
            b"\x01\x00\x00\x00\x00\xdb",  # our own A-ASSOCIATE-RQ, echoed back
        ],
    )
    def test_first_bytes_not_dicom(self, first_bytes: bytes) -> None:
        conn = awaiting()
        conn.receive_data(first_bytes)
        with pytest.raises(NotDicomError) as info:
            conn.next_event()
        assert info.value.sample == first_bytes
        assert info.value.code == "not-dicom"
        assert isinstance(info.value, DicomProtocolError)

    def test_one_byte_is_enough_to_tell(self) -> None:
        conn = awaiting()
        conn.receive_data(b"H")
        with pytest.raises(NotDicomError):
            conn.next_event()

    @pytest.mark.parametrize("first", [b"\x02", b"\x03\x00", b"\x07\x00\x00\x00"])
    def test_a_possible_dicom_prefix_waits(self, first: bytes) -> None:
        conn = awaiting()
        conn.receive_data(first)
        assert conn.next_event() is NEED_DATA

    def test_sample_is_bounded(self) -> None:
        conn = awaiting()
        conn.receive_data(b"<html>" + b"A" * 10_000)
        with pytest.raises(NotDicomError) as info:
            conn.next_event()
        assert info.value.sample == (b"<html>" + b"A" * 10_000)[:256]

    def test_sample_keeps_what_arrived_in_pieces(self) -> None:
        conn = awaiting()
        conn.receive_data(b"\x02")
        assert conn.next_event() is NEED_DATA
        conn.receive_data(b"\x41BC")
        with pytest.raises(NotDicomError) as info:
            conn.next_event()
        assert info.value.sample == b"\x02ABC"

    def test_after_the_first_pdu_garbage_is_a_protocol_error(self) -> None:
        conn = established()
        conn.receive_data(HTTP_RESPONSE)
        with pytest.raises(DicomProtocolError) as info:
            conn.next_event()
        assert not isinstance(info.value, NotDicomError)
        assert info.value.code == "unknown-pdu-type"


class TestStateTable:
    @pytest.mark.parametrize(
        "raw",
        [ASSOCIATE_AC_DCMTK, ASSOCIATE_RJ_CALLED_AE, RELEASE_RP, ASSOCIATE_RQ],
        ids=["AC", "RJ", "RELEASE-RP", "RQ"],
    )
    def test_not_allowed_when_established(self, raw: bytes) -> None:
        conn = established()
        conn.receive_data(raw)
        with pytest.raises(DicomProtocolError) as info:
            conn.next_event()
        assert info.value.code == "unexpected-pdu"
        assert "Sta6" in info.value.message

    def test_allowed_when_established(self) -> None:
        conn = established()
        conn.receive_data(P_DATA_C_ECHO_RSP + RELEASE_RQ)
        events = drain(conn)
        assert isinstance(events[0], DimseMessage)
        assert events[1:] == [ReleaseRequested()]
        conn2 = established()
        conn2.receive_data(ABORT_PROVIDER)
        assert drain(conn2) == [AssociationAborted(pdu.Abort(2, 6))]

    def test_awaiting_release_reply(self) -> None:
        conn = established()
        assert conn.release() == RELEASE_RQ
        assert conn.state is State.AWAITING_RELEASE_RP
        # A late response still arrives before the reply (PS3.8 Sta7 accepts P-DATA-TF).
        conn.receive_data(P_DATA_C_ECHO_RSP + RELEASE_RP)
        events = drain(conn)
        assert isinstance(events[0], DimseMessage)
        assert events[1:] == [Released()]
        assert conn.state is State.CLOSED

    def test_release_collision(self) -> None:
        # PS3.8 7.2.2: both asked; the requestor answers first, then awaits the peer's reply.
        conn = established()
        conn.release()
        conn.receive_data(RELEASE_RQ)
        assert drain(conn) == [ReleaseRequested()]
        assert conn.release_reply() == RELEASE_RP
        conn.receive_data(RELEASE_RP)
        conn.receive_data(b"")
        assert drain(conn) == [Released(), ConnectionClosed(clean=True)]

    def test_release_requested_by_the_peer(self) -> None:
        conn = established()
        conn.receive_data(RELEASE_RQ)
        assert drain(conn) == [ReleaseRequested()]
        assert conn.release_reply() == RELEASE_RP
        conn.receive_data(b"")
        assert drain(conn) == [ConnectionClosed(clean=True)]

    def test_release_reply_needs_an_association(self) -> None:
        with pytest.raises(RuntimeError, match="Sta5"):
            awaiting().release_reply()

    def test_accept_not_allowed_while_awaiting_release_reply(self) -> None:
        conn = established()
        conn.release()
        conn.receive_data(ASSOCIATE_AC_DCMTK)
        with pytest.raises(DicomProtocolError, match="Sta7"):
            conn.next_event()

    @pytest.mark.parametrize("raw", [ASSOCIATE_RJ_CALLED_AE, ABORT_PROVIDER, P_DATA_C_ECHO_RSP])
    def test_nothing_allowed_once_closed(self, raw: bytes) -> None:
        conn = awaiting()
        conn.receive_data(ASSOCIATE_RJ_CALLED_AE + raw)
        assert isinstance(conn.next_event(), AssociationRejected)
        with pytest.raises(DicomProtocolError) as info:
            conn.next_event()
        assert info.value.code == "unexpected-pdu"

    def test_nothing_allowed_before_the_request(self) -> None:
        conn = RequestorConnection()
        conn.receive_data(ASSOCIATE_AC_DCMTK)
        with pytest.raises(DicomProtocolError) as info:
            conn.next_event()
        assert info.value.code == "unexpected-pdu"

    def test_an_error_is_final(self) -> None:
        # A second call must not read on past the offending PDU as if nothing happened.
        conn = established()
        conn.receive_data(RELEASE_RP + P_DATA_C_ECHO_RSP)
        with pytest.raises(DicomProtocolError) as first:
            conn.next_event()
        with pytest.raises(DicomProtocolError) as second:
            conn.next_event()
        assert second.value is first.value

    def test_sending_checks_the_state(self) -> None:
        conn = awaiting()
        with pytest.raises(RuntimeError):
            conn.send_dimse(1, dimse.c_echo_rq(1))
        with pytest.raises(RuntimeError):
            conn.release()
        ready = established()
        with pytest.raises(ValueError, match="context 5"):
            ready.send_dimse(5, dimse.c_echo_rq(1))  # refused with result 3
        assert ready.abort() == pdu.encode_abort()
        assert ready.state is State.CLOSED


class TestIncremental:
    @pytest.mark.parametrize(
        ("raw", "kind"),
        [
            (ASSOCIATE_AC_DCMTK, AssociationAccepted),
            (ASSOCIATE_RJ_CALLED_AE, AssociationRejected),
            (ABORT_PROVIDER, AssociationAborted),
        ],
    )
    def test_every_split_point_gives_the_same_event(self, raw: bytes, kind: type) -> None:
        whole = awaiting()
        whole.receive_data(raw)
        (expected,) = drain(whole)
        assert isinstance(expected, kind)
        for cut in range(1, len(raw)):
            conn = awaiting()
            conn.receive_data(raw[:cut])
            assert conn.next_event() is NEED_DATA, cut
            conn.receive_data(raw[cut:])
            assert drain(conn) == [expected], cut

    def test_byte_at_a_time(self) -> None:
        conn = awaiting()
        events: list[Event] = []
        stream = ASSOCIATE_AC_DCMTK + P_DATA_C_ECHO_RSP
        for i in range(len(stream)):
            conn.receive_data(stream[i : i + 1])
            got = drain(conn)
            if i == len(ASSOCIATE_AC_DCMTK) - 1 or i == len(stream) - 1:
                assert len(got) == 1, i
            else:
                assert got == [], i
            events += got
        assert isinstance(events[0], AssociationAccepted)
        assert isinstance(events[1], DimseMessage)
        assert events[1].command.status == 0

    def test_several_pdus_in_one_chunk(self) -> None:
        conn = awaiting()
        conn.receive_data(ASSOCIATE_AC_DCMTK + P_DATA_C_ECHO_RSP + P_DATA_C_ECHO_RSP[:10])
        assert isinstance(conn.next_event(), AssociationAccepted)
        assert isinstance(conn.next_event(), DimseMessage)
        assert conn.next_event() is NEED_DATA
        conn.receive_data(P_DATA_C_ECHO_RSP[10:])
        assert isinstance(conn.next_event(), DimseMessage)


class TestDimseReassembly:
    def test_one_fragment(self) -> None:
        conn = established()
        conn.receive_data(P_DATA_C_ECHO_RSP)
        (message,) = drain(conn)
        assert message == DimseMessage(1, dimse.decode_command_set(C_ECHO_RSP_COMMAND), None)

    def test_command_across_pdus(self) -> None:
        conn = established()
        cmd = C_ECHO_RSP_COMMAND
        conn.receive_data(p_data((1, 0x01, cmd[:5])) + p_data((1, 0x01, cmd[5:40])))
        assert drain(conn) == []
        conn.receive_data(p_data((1, 0x03, cmd[40:])))
        (message,) = drain(conn)
        assert isinstance(message, DimseMessage)
        assert message.command.command_field == CommandField.C_ECHO_RSP
        assert message.dataset is None

    def test_command_and_dataset_across_pdus_and_pdvs(self) -> None:
        conn = established()
        conn.receive_data(
            p_data((3, 0x01, FIND_RSP_PENDING[:30]), (3, 0x03, FIND_RSP_PENDING[30:]))
            + p_data((3, 0x00, b"\x10\x00\x10\x00"))
        )
        assert drain(conn) == []
        conn.receive_data(p_data((3, 0x00, b"\x00\x00\x00\x00"), (3, 0x02, b"")))
        (message,) = drain(conn)
        assert isinstance(message, DimseMessage)
        assert message.context_id == 3
        assert message.command.status == 0xFF00
        assert message.dataset == b"\x10\x00\x10\x00\x00\x00\x00\x00"

    def test_a_query_that_fits_is_two_pdus_as_the_general_path_cuts_them(self) -> None:
        """Command and identifier within one PDV each: one PDU for each, flagged command-last
        and data-last, the bytes the chunking path makes (and the same again from the cache)."""
        conn = established()
        identifier = b"\x08\x00\x52\x00\x08\x00\x00\x00PATIENT "
        wire = conn.send_dimse(1, FIND_RSP_PENDING, identifier)
        expected = pdu.encode_p_data([(1, 0x03, FIND_RSP_PENDING)]) + pdu.encode_p_data(
            [(1, 0x02, identifier)]
        )
        assert wire == expected
        assert conn.send_dimse(1, FIND_RSP_PENDING, bytes(identifier)) == expected

    def test_two_messages_in_one_pdu(self) -> None:
        conn = established()
        conn.receive_data(p_data((1, 0x03, C_ECHO_RSP_COMMAND), (1, 0x03, C_ECHO_RSP_COMMAND)))
        events = drain(conn)
        assert len(events) == 2
        assert all(isinstance(e, DimseMessage) for e in events)

    def test_what_we_send_reassembles(self) -> None:
        sender = established(max_length=40)
        dataset = bytes(range(256)) * 3
        wire = sender.send_dimse(3, FIND_RSP_PENDING, dataset)
        # every PDU within the peer's limit, every PDV flagged as the standard says
        pos, bodies = 0, []
        while pos < len(wire):
            _, _, length = struct.unpack_from(">BBL", wire, pos)
            assert length <= 40
            bodies.append(pdu.parse_body(0x04, wire[pos + 6 : pos + 6 + length]))
            pos += 6 + length
        flags = [(p.pdvs[0].is_command, p.pdvs[0].is_last) for p in bodies]  # type: ignore[union-attr]
        assert flags[0] == (True, False)
        assert flags.count((True, True)) == 1
        assert flags[-1] == (False, True)
        receiver = established()
        receiver.receive_data(wire)
        (message,) = drain(receiver)
        assert isinstance(message, DimseMessage)
        assert message.dataset == dataset
        assert message.command.status == 0xFF00

    def test_interleaved_contexts(self) -> None:
        conn = established()
        conn.receive_data(p_data((1, 0x01, C_ECHO_RSP_COMMAND[:10]), (3, 0x03, C_ECHO_RSP_COMMAND)))
        with pytest.raises(DicomProtocolError) as info:
            conn.next_event()
        assert info.value.code == "interleaved-message"

    def test_context_not_accepted(self) -> None:
        conn = established()
        conn.receive_data(p_data((5, 0x03, C_ECHO_RSP_COMMAND)))  # 5 was refused
        with pytest.raises(DicomProtocolError) as info:
            conn.next_event()
        assert info.value.code == "unknown-context"

    def test_dataset_before_command(self) -> None:
        conn = established()
        conn.receive_data(p_data((1, 0x02, b"\x00" * 8)))
        with pytest.raises(DicomProtocolError) as info:
            conn.next_event()
        assert info.value.code == "invalid-pdv"

    def test_command_fragment_after_the_command_ended(self) -> None:
        conn = established()
        conn.receive_data(p_data((3, 0x03, FIND_RSP_PENDING), (3, 0x03, FIND_RSP_PENDING)))
        with pytest.raises(DicomProtocolError) as info:
            conn.next_event()
        assert info.value.code == "invalid-pdv"

    def test_dataset_when_the_command_said_none(self) -> None:
        conn = established()
        conn.receive_data(p_data((1, 0x03, C_ECHO_RSP_COMMAND), (1, 0x02, b"\x00" * 8)))
        with pytest.raises(DicomProtocolError) as info:
            conn.next_event()
        assert info.value.code == "invalid-pdv"

    def test_malformed_command_set(self) -> None:
        conn = established()
        conn.receive_data(p_data((1, 0x03, b"\x08\x00\x18\x00\x02\x00\x00\x00AB")))
        with pytest.raises(DicomProtocolError) as info:
            conn.next_event()
        assert info.value.code == "invalid-command"


class TestLimits:
    def test_oversized_pdu_refused_from_its_header(self) -> None:
        conn = established(max_pdu_receive=4096)
        conn.receive_data(b"\x04\x00\x00\x00\x10\x01")  # 4097 announced, nothing more sent
        with pytest.raises(DicomProtocolError) as info:
            conn.next_event()
        assert info.value.code == "oversized-pdu"

    def test_oversized_first_pdu(self) -> None:
        conn = awaiting()
        conn.receive_data(b"\x02\x00\xff\xff\xff\xff")
        with pytest.raises(DicomProtocolError) as info:
            conn.next_event()
        assert info.value.code == "oversized-pdu"
        assert not isinstance(info.value, NotDicomError)

    def test_oversized_message(self) -> None:
        conn = established(max_message=1000)
        conn.receive_data(p_data((3, 0x03, FIND_RSP_PENDING)))
        for _ in range(10):  # 10 x 90 bytes of dataset: still within 1000 with the command
            conn.receive_data(p_data((3, 0x00, b"\x00" * 90)))
        assert drain(conn) == []
        conn.receive_data(p_data((3, 0x00, b"\x00" * 90)))
        with pytest.raises(DicomProtocolError) as info:
            conn.next_event()
        assert info.value.code == "oversized-message"

    def test_oversized_command_refused_before_the_message_cap(self) -> None:
        conn = established(max_pdu_receive=1 << 20)
        chunk = b"\x00" * (40 * 1024)
        conn.receive_data(p_data((1, 0x01, chunk)))
        assert drain(conn) == []
        conn.receive_data(p_data((1, 0x01, chunk)))
        with pytest.raises(DicomProtocolError) as info:
            conn.next_event()
        assert info.value.code == "oversized-command"

    def test_send_splits_within_the_peer_maximum(self) -> None:
        conn = established(max_length=30)
        wire = conn.send_dimse(1, dimse.c_echo_rq(1))
        sizes = []
        pos = 0
        while pos < len(wire):
            _, _, length = struct.unpack_from(">BBL", wire, pos)
            sizes.append(length)
            pos += 6 + length
        assert max(sizes) == 30
        assert sum(s - 6 for s in sizes) == len(dimse.c_echo_rq(1))

    def test_declared_max_length_from_the_accept(self) -> None:
        raw = bytearray(ASSOCIATE_AC_DCMTK)
        raw[AC_MAX_LENGTH_SUBITEM + 4 : AC_MAX_LENGTH_SUBITEM + 8] = struct.pack(">L", 1234)
        conn = awaiting()
        conn.receive_data(bytes(raw))
        drain(conn)
        assert conn.peer_max_pdu == 1234


class TestEof:
    def test_eof_before_anything(self) -> None:
        conn = awaiting()
        conn.receive_data(b"")
        assert drain(conn) == [ConnectionClosed(clean=False)]
        assert conn.next_event() == ConnectionClosed(clean=False)  # and it stays closed

    @pytest.mark.parametrize("cut", [1, 5, 6, 100])
    def test_eof_mid_pdu(self, cut: int) -> None:
        conn = awaiting()
        conn.receive_data(ASSOCIATE_AC_DCMTK[:cut])
        conn.receive_data(b"")
        assert drain(conn) == [ConnectionClosed(clean=False)]

    def test_complete_pdu_before_eof_is_delivered_first(self) -> None:
        conn = awaiting()
        conn.receive_data(ASSOCIATE_RJ_CALLED_AE)
        conn.receive_data(b"")
        events = drain(conn)
        assert isinstance(events[0], AssociationRejected)
        assert events[1:] == [ConnectionClosed(clean=True)]

    def test_eof_after_abort_is_clean(self) -> None:
        conn = awaiting()
        conn.receive_data(ABORT_PROVIDER)
        conn.receive_data(b"")
        assert drain(conn)[-1] == ConnectionClosed(clean=True)

    def test_eof_after_release_is_clean(self) -> None:
        conn = established()
        conn.release()
        conn.receive_data(RELEASE_RP)
        conn.receive_data(b"")
        assert drain(conn) == [Released(), ConnectionClosed(clean=True)]

    def test_eof_while_established_is_not_clean(self) -> None:
        conn = established()
        conn.receive_data(p_data((1, 0x01, C_ECHO_RSP_COMMAND[:10])))
        conn.receive_data(b"")
        assert drain(conn) == [ConnectionClosed(clean=False)]

    def test_trailing_bytes_after_the_last_pdu_make_eof_unclean(self) -> None:
        conn = established()
        conn.release()
        conn.receive_data(RELEASE_RP + b"\x07")
        conn.receive_data(b"")
        assert drain(conn) == [Released(), ConnectionClosed(clean=False)]
