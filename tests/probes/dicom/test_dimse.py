"""DIMSE command sets: encoding, strict decoding, and agreement with pynetdicom (PS3.7 E)."""

from __future__ import annotations

import struct
from io import BytesIO

import pytest
from encoded_pdus import (
    AC_MAX_LENGTH_SUBITEM,
    ASSOCIATE_AC_DCMTK,
    ASSOCIATE_RQ,
    C_ECHO_RQ_COMMAND,
    C_ECHO_RSP_COMMAND,
    VERIFICATION,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pynetdicom.dimse_messages import C_ECHO_RQ, C_ECHO_RSP, C_FIND_RSP, C_MOVE_RSP, DIMSEMessage
from pynetdicom.dimse_primitives import C_ECHO, C_FIND, C_MOVE
from pynetdicom.dsutils import decode as pynetdicom_decode
from pynetdicom.dsutils import encode as pynetdicom_encode
from pynetdicom.pdu import P_DATA_TF

from pacsaudit.probes.dicom import dimse, pdu
from pacsaudit.probes.dicom.connection import AssociationAccepted, RequestorConnection
from pacsaudit.probes.dicom.dimse import CommandField, CommandValue, Tag
from pacsaudit.probes.dicom.errors import DicomProtocolError

PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"


def element(number: int, value: bytes, group: int = 0) -> bytes:
    return struct.pack("<HHL", group, number, len(value)) + value


def pynetdicom_command(message: DIMSEMessage) -> bytes:
    encoded = pynetdicom_encode(message.command_set, True, True)
    assert encoded is not None
    return encoded


def read_with_pynetdicom(raw: bytes) -> Dataset:
    ds: Dataset = pynetdicom_decode(BytesIO(raw), True, True)
    return ds


def outcome(raw: bytes) -> str | None:
    """The error code decoding ``raw`` raises, or None when it decodes."""
    try:
        dimse.decode_command_set(raw)
    except DicomProtocolError as exc:
        return exc.code
    return None


def decode_error(raw: bytes) -> str:
    with pytest.raises(DicomProtocolError) as info:
        dimse.decode_command_set(raw)
    return info.value.code


class TestCEcho:
    def test_request_is_the_annotated_bytes(self) -> None:
        assert dimse.c_echo_rq(1) == C_ECHO_RQ_COMMAND

    def test_response_is_the_annotated_bytes(self) -> None:
        assert dimse.c_echo_rsp(1) == C_ECHO_RSP_COMMAND

    @pytest.mark.parametrize("message_id", [1, 2, 0x7FFF, 0xFFFF])
    def test_request_matches_pynetdicom(self, message_id: int) -> None:
        primitive = C_ECHO()
        primitive.MessageID = message_id
        primitive.AffectedSOPClassUID = VERIFICATION
        message = C_ECHO_RQ()
        message.primitive_to_message(primitive)
        assert dimse.c_echo_rq(message_id) == pynetdicom_command(message)

    @pytest.mark.parametrize(("message_id", "status"), [(1, 0x0000), (9, 0x0122), (3, 0xC000)])
    def test_response_matches_pynetdicom(self, message_id: int, status: int) -> None:
        primitive = C_ECHO()
        primitive.MessageIDBeingRespondedTo = message_id
        primitive.AffectedSOPClassUID = VERIFICATION
        primitive.Status = status
        message = C_ECHO_RSP()
        message.primitive_to_message(primitive)
        assert dimse.c_echo_rsp(message_id, status) == pynetdicom_command(message)

    @pytest.mark.parametrize("max_pdu", [0, 16384, 80, 30, 7])
    def test_p_data_matches_pynetdicom_fragmentation(self, max_pdu: int) -> None:
        primitive = C_ECHO()
        primitive.MessageID = 1
        primitive.AffectedSOPClassUID = VERIFICATION
        message = C_ECHO_RQ()
        message.primitive_to_message(primitive)
        theirs = b"".join(P_DATA_TF(p).encode() for p in message.encode_msg(1, max_pdu))
        accept = bytearray(ASSOCIATE_AC_DCMTK)
        accept[AC_MAX_LENGTH_SUBITEM + 4 : AC_MAX_LENGTH_SUBITEM + 8] = struct.pack(">L", max_pdu)
        conn = RequestorConnection()
        conn.request(ASSOCIATE_RQ)
        conn.receive_data(bytes(accept))
        assert isinstance(conn.next_event(), AssociationAccepted)
        assert conn.peer_max_pdu == max_pdu
        assert conn.send_dimse(1, dimse.c_echo_rq(1)) == theirs

    def test_pynetdicom_reads_our_request(self) -> None:
        ds = read_with_pynetdicom(dimse.c_echo_rq(42))
        assert ds.CommandGroupLength == len(C_ECHO_RQ_COMMAND) - 12
        assert ds.AffectedSOPClassUID == VERIFICATION
        assert ds.CommandField == 0x0030
        assert ds.MessageID == 42
        assert ds.CommandDataSetType == 0x0101


class TestDecode:
    def test_echo_response(self) -> None:
        command = dimse.decode_command_set(C_ECHO_RSP_COMMAND)
        assert command.command_field == CommandField.C_ECHO_RSP
        assert command.message_id_being_responded_to == 1
        assert command.status == 0
        assert not command.has_dataset
        assert command.elements[Tag.AFFECTED_SOP_CLASS_UID] == VERIFICATION  # padding stripped
        assert command.elements[Tag.COMMAND_GROUP_LENGTH] == 66

    def test_pynetdicom_find_response_with_dataset(self) -> None:
        primitive = C_FIND()
        primitive.MessageIDBeingRespondedTo = 5
        primitive.AffectedSOPClassUID = PATIENT_ROOT_FIND
        primitive.Status = 0xFF00
        primitive.Identifier = BytesIO(b"\x10\x00\x10\x00\x00\x00\x00\x00")
        message = C_FIND_RSP()
        message.primitive_to_message(primitive)
        command = dimse.decode_command_set(pynetdicom_command(message))
        assert command.command_field == CommandField.C_FIND_RSP
        assert command.status == 0xFF00
        assert command.message_id_being_responded_to == 5
        assert command.has_dataset
        assert command.elements[Tag.AFFECTED_SOP_CLASS_UID] == PATIENT_ROOT_FIND

    def test_pynetdicom_move_response_counts_and_error_comment(self) -> None:
        primitive = C_MOVE()
        primitive.MessageIDBeingRespondedTo = 7
        primitive.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.2.1.2"
        primitive.Status = 0xA801
        primitive.NumberOfRemainingSuboperations = 0
        primitive.NumberOfCompletedSuboperations = 3
        primitive.NumberOfFailedSuboperations = 1
        primitive.NumberOfWarningSuboperations = 2
        primitive.ErrorComment = "Move destination unknown"
        message = C_MOVE_RSP()
        message.primitive_to_message(primitive)
        command = dimse.decode_command_set(pynetdicom_command(message))
        assert command.status == 0xA801
        assert command.elements[Tag.NUMBER_OF_COMPLETED_SUBOPERATIONS] == 3
        assert command.elements[Tag.NUMBER_OF_FAILED_SUBOPERATIONS] == 1
        assert command.elements[Tag.NUMBER_OF_WARNING_SUBOPERATIONS] == 2
        # Peer text is kept as bytes, never decoded into messages.
        assert command.elements[Tag.ERROR_COMMENT] == b"Move destination unknown"

    @pytest.mark.parametrize(
        ("value", "expected"), [(0x0101, False), (0x0000, True), (0x0102, True), (None, False)]
    )
    def test_has_dataset(self, value: int | None, expected: bool) -> None:
        elements: dict[int, CommandValue] = {Tag.COMMAND_FIELD: 0x8020}
        if value is not None:
            elements[Tag.COMMAND_DATA_SET_TYPE] = value
        command = dimse.decode_command_set(dimse.encode_command_set(elements))
        assert command.has_dataset is expected

    def test_wrong_type_values_read_as_absent(self) -> None:
        command = dimse.CommandSet({Tag.STATUS: b"\x00\x00", Tag.COMMAND_FIELD: "x"})
        assert command.status is None
        assert command.command_field is None

    def test_empty_command_set(self) -> None:
        assert dimse.decode_command_set(b"").elements == {}


class TestEncode:
    def test_ascending_order_and_group_length(self) -> None:
        raw = dimse.encode_command_set(
            {Tag.STATUS: 0, Tag.COMMAND_FIELD: 0x8030, Tag.AFFECTED_SOP_CLASS_UID: "1.2.3"}
        )
        numbers = []
        pos = 0
        while pos < len(raw):
            _, number, length = struct.unpack_from("<HHL", raw, pos)
            numbers.append(number)
            pos += 8 + length
        assert numbers == [0x0000, 0x0002, 0x0100, 0x0900]
        assert struct.unpack_from("<L", raw, 8)[0] == len(raw) - 12

    def test_a_given_group_length_is_replaced_by_the_true_one(self) -> None:
        raw = dimse.encode_command_set({Tag.COMMAND_GROUP_LENGTH: 999, Tag.MESSAGE_ID: 1})
        assert raw == element(0x0000, struct.pack("<L", 10)) + element(0x0110, b"\x01\x00")

    def test_padding(self) -> None:
        # UI pads with NUL, AE (and other text) with a space, to even length (PS3.5 6.2).
        raw = dimse.encode_command_set(
            {Tag.AFFECTED_SOP_CLASS_UID: "1.2.3", Tag.MOVE_DESTINATION: "ABC"}
        )
        assert element(0x0002, b"1.2.3\x00") in raw
        assert element(0x0600, b"ABC ") in raw
        decoded = dimse.decode_command_set(raw)
        assert decoded.elements[Tag.AFFECTED_SOP_CLASS_UID] == "1.2.3"
        assert decoded.elements[Tag.MOVE_DESTINATION] == "ABC"

    @settings(max_examples=100, deadline=None)
    @given(
        us=st.dictionaries(
            st.sampled_from(sorted(dimse._US)), st.integers(0, 0xFFFF), max_size=len(dimse._US)
        ),
        ui=st.dictionaries(
            st.sampled_from(sorted(dimse._UI)),
            st.lists(st.integers(0, 10**9).map(str), min_size=1, max_size=6).map(".".join),
            max_size=4,
        ),
    )
    def test_round_trip(self, us: dict[int, int], ui: dict[int, str]) -> None:
        elements: dict[int, CommandValue] = {**us, **ui}
        raw = dimse.encode_command_set(elements)
        decoded = dimse.decode_command_set(raw)
        assert {k: v for k, v in decoded.elements.items() if k != Tag.COMMAND_GROUP_LENGTH} == (
            elements
        )
        assert decoded.elements[Tag.COMMAND_GROUP_LENGTH] == len(raw) - 12
        # and pynetdicom reads every value the same
        ds = read_with_pynetdicom(raw)
        for number, value in elements.items():
            assert ds[0x0000, number].value == value


class TestMalformed:
    def test_element_of_another_group(self) -> None:
        raw = C_ECHO_RQ_COMMAND + element(0x0010, b"DOE^JOHN", group=0x0010)
        assert decode_error(raw) == "invalid-command"

    @pytest.mark.parametrize("cut", [1, 4, 7])
    def test_truncated_element_header(self, cut: int) -> None:
        assert decode_error(C_ECHO_RQ_COMMAND + element(0x0900, b"\x00\x00")[:cut]) == (
            "truncated-command"
        )

    def test_every_truncation_fails_or_ends_on_an_element(self) -> None:
        ends = {0, 12, 38, 48, 58, 68}
        for n in range(len(C_ECHO_RQ_COMMAND)):
            code = outcome(C_ECHO_RQ_COMMAND[:n])
            assert code == (None if n in ends else "truncated-command"), n

    @pytest.mark.parametrize("length", [3, 0x7FFFFFFF, 0xFFFFFFFF])
    def test_value_length_overruns(self, length: int) -> None:
        raw = struct.pack("<HHL", 0, 0x0900, length) + b"\x00\x00"
        assert decode_error(raw) == "truncated-command"

    @pytest.mark.parametrize("value", [b"", b"\x01", b"\x01\x00\x00\x00"])
    def test_us_element_of_wrong_length(self, value: bytes) -> None:
        assert decode_error(element(0x0100, value)) == "invalid-command"

    @pytest.mark.parametrize("value", [b"\x00\x00", b"\x00" * 8])
    def test_group_length_not_ul(self, value: bytes) -> None:
        assert decode_error(element(0x0000, value)) == "invalid-command"

    def test_oversized(self) -> None:
        raw = element(0x0902, b"x" * dimse.MAX_COMMAND_SET_LENGTH)
        assert decode_error(raw) == "oversized-command"

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=200))
    def test_random_bytes_raise_only_protocol_errors(self, raw: bytes) -> None:
        assert outcome(raw) in {None, "truncated-command", "invalid-command"}


def test_pdu_and_dimse_agree_on_the_echo_fixture() -> None:
    """The command carried by the annotated P-DATA-TF decodes to the echo request."""
    from encoded_pdus import P_DATA_C_ECHO_RQ

    parsed = pdu.parse_body(0x04, P_DATA_C_ECHO_RQ[6:])
    assert isinstance(parsed, pdu.PData)
    command = dimse.decode_command_set(parsed.pdvs[0].data)
    assert command.command_field == CommandField.C_ECHO_RQ
    assert command.elements[Tag.MESSAGE_ID] == 1


@pytest.mark.parametrize("destination", ["PA0123456789AB", "A", "ODD", "SIXTEEN-CHARS-AE"])
def test_the_move_template_gives_the_command_encoded_whole(destination: str) -> None:
    """The destination spliced into a template encoded once per length is byte for byte the
    command encoded with it (odd lengths padded alike)."""
    from pacsaudit.probes.dicom import query

    study_root_move = "1.2.840.10008.5.1.4.1.2.2.2"
    whole = dimse.encode_command_set(
        {
            Tag.AFFECTED_SOP_CLASS_UID: study_root_move,
            Tag.COMMAND_FIELD: CommandField.C_MOVE_RQ,
            Tag.MESSAGE_ID: 4,
            Tag.MOVE_DESTINATION: destination,
            Tag.PRIORITY: query.MEDIUM_PRIORITY,
            Tag.COMMAND_DATA_SET_TYPE: query.DATASET_PRESENT,
        }
    )
    assert query.c_move_rq(4, study_root_move, destination) == whole
    assert query.c_move_rq(4, study_root_move, destination) == whole  # from the template


def test_a_decoded_command_set_shared_from_the_cache_cannot_be_changed() -> None:
    first = dimse.decode_command_set(C_ECHO_RSP_COMMAND)
    assert dimse.decode_command_set(bytes(C_ECHO_RSP_COMMAND)) is first  # equal bytes, one read
    with pytest.raises(TypeError):
        first.elements[0x0900] = 1  # type: ignore[index]
