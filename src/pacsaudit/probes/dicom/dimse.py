"""DIMSE command sets (PS3.7 section 9 and Annex E): encoding and strict decoding.

Command sets are always Implicit VR Little Endian and hold only group 0x0000, with a dozen
possible elements; a table of their VRs is enough to read them. Decoding by hand keeps the
per-message cost to microseconds and lets every length be checked against the bytes present.
Datasets (identifiers of C-FIND responses and the like) are decoded with pydicom elsewhere.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType

from pacsaudit.probes.dicom.errors import DicomProtocolError


class CommandField(IntEnum):
    C_STORE_RQ = 0x0001
    C_STORE_RSP = 0x8001
    C_GET_RQ = 0x0010
    C_GET_RSP = 0x8010
    C_FIND_RQ = 0x0020
    C_FIND_RSP = 0x8020
    C_MOVE_RQ = 0x0021
    C_MOVE_RSP = 0x8021
    C_ECHO_RQ = 0x0030
    C_ECHO_RSP = 0x8030
    C_CANCEL_RQ = 0x0FFF


class Tag(IntEnum):
    """Command group elements (PS3.7 Table E.1-1), as (0000,eeee) element numbers."""

    COMMAND_GROUP_LENGTH = 0x0000
    AFFECTED_SOP_CLASS_UID = 0x0002
    REQUESTED_SOP_CLASS_UID = 0x0003
    COMMAND_FIELD = 0x0100
    MESSAGE_ID = 0x0110
    MESSAGE_ID_BEING_RESPONDED_TO = 0x0120
    MOVE_DESTINATION = 0x0600
    PRIORITY = 0x0700
    COMMAND_DATA_SET_TYPE = 0x0800
    STATUS = 0x0900
    OFFENDING_ELEMENT = 0x0901
    ERROR_COMMENT = 0x0902
    ERROR_ID = 0x0903
    AFFECTED_SOP_INSTANCE_UID = 0x1000
    REQUESTED_SOP_INSTANCE_UID = 0x1001
    NUMBER_OF_REMAINING_SUBOPERATIONS = 0x1020
    NUMBER_OF_COMPLETED_SUBOPERATIONS = 0x1021
    NUMBER_OF_FAILED_SUBOPERATIONS = 0x1022
    NUMBER_OF_WARNING_SUBOPERATIONS = 0x1023


_US = frozenset(
    {
        Tag.COMMAND_FIELD,
        Tag.MESSAGE_ID,
        Tag.MESSAGE_ID_BEING_RESPONDED_TO,
        Tag.PRIORITY,
        Tag.COMMAND_DATA_SET_TYPE,
        Tag.STATUS,
        Tag.ERROR_ID,
        Tag.NUMBER_OF_REMAINING_SUBOPERATIONS,
        Tag.NUMBER_OF_COMPLETED_SUBOPERATIONS,
        Tag.NUMBER_OF_FAILED_SUBOPERATIONS,
        Tag.NUMBER_OF_WARNING_SUBOPERATIONS,
    }
)
_UI = frozenset(
    {
        Tag.AFFECTED_SOP_CLASS_UID,
        Tag.REQUESTED_SOP_CLASS_UID,
        Tag.AFFECTED_SOP_INSTANCE_UID,
        Tag.REQUESTED_SOP_INSTANCE_UID,
    }
)
_AE = frozenset({Tag.MOVE_DESTINATION})
# Plain ints for the decoder (an IntEnum member lookup costs more than a global).
_TEXT = frozenset(int(tag) for tag in _UI | _AE)
_GROUP_LENGTH = int(Tag.COMMAND_GROUP_LENGTH)

NO_DATASET = 0x0101
"""Command Data Set Type value meaning "no dataset follows" (any other value means one does)."""

_ELEMENT = struct.Struct("<HHL")
MAX_COMMAND_SET_LENGTH = 64 * 1024


CommandValue = int | str | bytes


@dataclass(frozen=True, slots=True)
class CommandSet:
    """A decoded command set: element number → value (int for US/UL, str for UI/AE).

    The fields every response is read for are worked out once, when the set is made: a decoded
    set comes from :func:`decode_command_set`'s cache, so the hosts of one kind of server read
    plain attributes (a lookup in ``elements`` per read cost each host about 25 of them).
    """

    elements: Mapping[int, CommandValue]
    command_field: int | None = field(init=False)
    status: int | None = field(init=False)
    message_id_being_responded_to: int | None = field(init=False)
    has_dataset: bool = field(init=False)
    """True when a dataset follows (Command Data Set Type present and not "no dataset")."""

    def __post_init__(self) -> None:
        dataset_type = self._int(Tag.COMMAND_DATA_SET_TYPE)
        for name, value in (
            ("command_field", self._int(Tag.COMMAND_FIELD)),
            ("status", self._int(Tag.STATUS)),
            ("message_id_being_responded_to", self._int(Tag.MESSAGE_ID_BEING_RESPONDED_TO)),
            ("has_dataset", dataset_type is not None and dataset_type != NO_DATASET),
        ):
            object.__setattr__(self, name, value)  # frozen: set once, here

    def _int(self, tag: Tag) -> int | None:
        v = self.elements.get(tag)
        return v if isinstance(v, int) else None


def _encode_value(tag: int, value: CommandValue) -> bytes:
    if tag in _US:
        assert isinstance(value, int)
        return struct.pack("<H", value)
    if tag == Tag.COMMAND_GROUP_LENGTH:
        assert isinstance(value, int)
        return struct.pack("<L", value)
    raw = value if isinstance(value, bytes) else str(value).encode("ascii")
    if len(raw) % 2:
        raw += b"\0" if tag in _UI else b" "
    return raw


def encode_command_set(elements: Mapping[int, CommandValue]) -> bytes:
    """Encode group 0000 elements in ascending order, with a correct Command Group Length."""
    body = b"".join(
        _ELEMENT.pack(0, tag, len(v)) + v
        for tag, v in ((t, _encode_value(t, elements[t])) for t in sorted(elements))
        if tag != Tag.COMMAND_GROUP_LENGTH
    )
    return _ELEMENT.pack(0, Tag.COMMAND_GROUP_LENGTH, 4) + struct.pack("<L", len(body)) + body


@functools.lru_cache(maxsize=1024)
def decode_command_set(data: bytes) -> CommandSet:
    """Decode an Implicit VR Little Endian command set, refusing anything malformed.

    Read once per distinct command set: every host of a product answers our C-ECHO, C-FIND
    and C-MOVE with the same bytes (message IDs count from 1 on each association). A failure
    is never cached, the result is never changed by its readers, and the bound keeps a hostile
    scan's distinct answers from growing the cache."""
    end = len(data)
    if end > MAX_COMMAND_SET_LENGTH:
        raise DicomProtocolError("oversized-command", "command set larger than 64 KiB")
    elements: dict[int, CommandValue] = {}
    unpack = _ELEMENT.unpack_from
    pos = 0
    while pos < end:
        if end - pos < 8:
            raise DicomProtocolError("truncated-command", "truncated command element header")
        group, element, length = unpack(data, pos)
        pos += 8
        if group != 0:
            raise DicomProtocolError("invalid-command", "command set holds a non-command group")
        if length > end - pos:
            raise DicomProtocolError("truncated-command", "command element overruns its set")
        value_end = pos + length
        if element in _US:
            if length != 2:
                raise DicomProtocolError("invalid-command", f"(0000,{element:04X}) is not US")
            elements[element] = data[pos] | data[pos + 1] << 8
        elif element == _GROUP_LENGTH:
            if length != 4:
                raise DicomProtocolError("invalid-command", "command group length is not UL")
            elements[element] = int.from_bytes(data[pos:value_end], "little")
        elif element in _TEXT:
            elements[element] = data[pos:value_end].decode("ascii", "replace").strip(" \0")
        else:
            # Error comments and unknown elements are kept as bytes, never echoed in messages.
            elements[element] = bytes(data[pos:value_end])
        pos = value_end
    return CommandSet(MappingProxyType(elements))  # shared from the cache: read-only


VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"


@functools.lru_cache(maxsize=64)
def c_echo_rq(message_id: int) -> bytes:
    """Our C-ECHO-RQ command set; a probe sends the same one (message ID 1) to every host."""
    return encode_command_set(
        {
            Tag.AFFECTED_SOP_CLASS_UID: VERIFICATION_SOP_CLASS,
            Tag.COMMAND_FIELD: CommandField.C_ECHO_RQ,
            Tag.MESSAGE_ID: message_id,
            Tag.COMMAND_DATA_SET_TYPE: NO_DATASET,
        }
    )


def c_echo_rsp(message_id: int, status: int = 0) -> bytes:
    """Used by the tests' and the benchmark's minimal responders."""
    return encode_command_set(
        {
            Tag.AFFECTED_SOP_CLASS_UID: VERIFICATION_SOP_CLASS,
            Tag.COMMAND_FIELD: CommandField.C_ECHO_RSP,
            Tag.MESSAGE_ID_BEING_RESPONDED_TO: message_id,
            Tag.COMMAND_DATA_SET_TYPE: NO_DATASET,
            Tag.STATUS: status,
        }
    )
