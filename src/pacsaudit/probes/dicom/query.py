"""C-FIND and C-MOVE over an accepted association, bounded and cancellable (PS3.4 C.4, PS3.7 9.1).

Identifiers are encoded (the survey's fixed ones by hand, :mod:`.keyed_query`) and decoded with
pydicom in the transfer syntax the peer accepted.
Decoded identifiers are handed to a callback and dropped: this module never keeps a dataset,
and nothing it raises or returns carries a value read from one.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO, cast

import msgspec

from pacsaudit.probes.dicom.dimse import CommandField, Tag, encode_command_set
from pacsaudit.probes.dicom.errors import DicomProtocolError
from pacsaudit.probes.dicom.keyed_query import KeyedQuery
from pacsaudit.probes.dicom.session import Session

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"

PENDING = frozenset({0xFF00, 0xFF01})
SUCCESS = 0x0000
CANCELLED = 0xFE00
MOVE_DESTINATION_UNKNOWN = 0xA801
DATASET_PRESENT = 0x0000
NO_DATASET = 0x0101
MEDIUM_PRIORITY = 0x0000

UNDEFINED_LENGTH = 0xFFFFFFFF
DRAIN_LIMIT = 10_000
"""Pending responses we read after a C-CANCEL before calling the peer endless."""


@functools.lru_cache(maxsize=64)
def c_find_rq(message_id: int, sop_class: str) -> bytes:
    """Our C-FIND-RQ command set: a probe asks every host the same (message IDs count from 1
    on each association), so it is encoded once."""
    return encode_command_set(
        {
            Tag.AFFECTED_SOP_CLASS_UID: sop_class,
            Tag.COMMAND_FIELD: CommandField.C_FIND_RQ,
            Tag.MESSAGE_ID: message_id,
            Tag.PRIORITY: MEDIUM_PRIORITY,
            Tag.COMMAND_DATA_SET_TYPE: DATASET_PRESENT,
        }
    )


def c_cancel_rq(message_id_being_responded_to: int) -> bytes:
    return encode_command_set(
        {
            Tag.COMMAND_FIELD: CommandField.C_CANCEL_RQ,
            Tag.MESSAGE_ID_BEING_RESPONDED_TO: message_id_being_responded_to,
            Tag.COMMAND_DATA_SET_TYPE: NO_DATASET,
        }
    )


def c_move_rq(message_id: int, sop_class: str, destination: str) -> bytes:
    """Our C-MOVE-RQ command set. The destination is drawn for each host; the rest is the
    same everywhere, so the destination is spliced into a template encoded once per length."""
    raw = destination.encode("ascii")
    template, at = _move_template(message_id, sop_class, len(raw))
    return template[:at] + raw + template[at + len(raw) :]


@functools.lru_cache(maxsize=64)
def _move_template(message_id: int, sop_class: str, length: int) -> tuple[bytes, int]:
    """A C-MOVE-RQ with a placeholder destination of ``length`` characters, and where it is."""
    placeholder = "~" * length  # "~" is in no UID and in no other element of the command
    encoded = encode_command_set(
        {
            Tag.AFFECTED_SOP_CLASS_UID: sop_class,
            Tag.COMMAND_FIELD: CommandField.C_MOVE_RQ,
            Tag.MESSAGE_ID: message_id,
            Tag.MOVE_DESTINATION: placeholder,
            Tag.PRIORITY: MEDIUM_PRIORITY,
            Tag.COMMAND_DATA_SET_TYPE: DATASET_PRESENT,
        }
    )
    at = encoded.index(placeholder.encode())
    return encoded, at


_FIXED: dict[int, Dataset] = {}
"""Identifiers that are the same for every host (the probe's own query keys), by id."""
_ENCODED: dict[tuple[int, str | None], bytes] = {}


def fixed(ds: Dataset) -> Dataset:
    """Mark ``ds`` as a query that is never changed and never holds a peer's value: its
    encoding is then kept per transfer syntax. Building and encoding a dozen-key query with
    pydicom costs about 0.4 ms, which every host of a sweep paid several times."""
    _FIXED[id(ds)] = ds
    return ds


def encode_identifier(ds: Dataset | KeyedQuery, transfer_syntax: str | None) -> bytes:
    if isinstance(ds, KeyedQuery):
        return ds.encode(transfer_syntax)
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    reuse = _FIXED.get(id(ds)) is ds
    if reuse:
        cached = _ENCODED.get((id(ds), transfer_syntax))
        if cached is not None:
            return cached
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = transfer_syntax != EXPLICIT_VR_LE
    write_dataset(fp, ds)
    data = bytes(fp.getvalue())
    if reuse:
        _ENCODED[(id(ds), transfer_syntax)] = data
    return data


def decode_identifier(data: bytes, transfer_syntax: str | None) -> Dataset:
    """Parse an identifier; any failure is a protocol error that names no value. pydicom is
    loaded here, by the first match of a scan (see :mod:`.keyed_query`)."""
    from pydicom.dataelem import RawDataElement
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import read_dataset

    try:
        ds = read_dataset(
            cast(BinaryIO, DicomBytesIO(data)), transfer_syntax != EXPLICIT_VR_LE, True
        )
    except Exception:  # pydicom raises many types for malformed input
        raise DicomProtocolError(
            "invalid-identifier", "the peer sent an undecodable identifier"
        ) from None
    # pydicom reads a truncated last element without complaint: compare announced lengths.
    for tag in ds.keys():  # noqa: SIM118 - keys() does not convert raw elements
        elem = ds.get_item(tag)
        if (
            isinstance(elem, RawDataElement)
            and elem.length != UNDEFINED_LENGTH
            and isinstance(elem.value, bytes)
            and len(elem.value) != elem.length
        ):
            raise DicomProtocolError(
                "invalid-identifier", "an identifier element overruns its dataset"
            )
    return ds


class QueryOutcome(msgspec.Struct):
    records: int = 0
    final_status: int | None = None
    cancelled: bool = False
    """True when we sent C-CANCEL (a bound was hit): ``records`` is then a lower bound."""
    drained: int = 0


def _check_response(
    command_field: int | None, responded_to: int | None, want: int, message_id: int
) -> None:
    if command_field != want:
        raise DicomProtocolError("unexpected-message", "the peer answered with another command")
    if responded_to != message_id:
        raise DicomProtocolError("wrong-message-id", "a response to a message we never sent")


async def find(
    session: Session,
    context_id: int,
    sop_class: str,
    identifier: Dataset | KeyedQuery,
    *,
    max_records: int,
    reserve: float,
    on_record: Callable[[Dataset], None],
    outcome: QueryOutcome | None = None,
) -> QueryOutcome:
    """Run one C-FIND; call ``on_record`` for each match; cancel at ``max_records`` or when
    less than ``reserve`` seconds of the session remain. Pass ``outcome`` to keep the counts
    of a query that ends in an exception."""
    transfer_syntax = session.proto.accepted_contexts[context_id]
    message_id = session.next_message_id()
    session.send(
        context_id,
        c_find_rq(message_id, sop_class),
        encode_identifier(identifier, transfer_syntax),
    )
    outcome = outcome if outcome is not None else QueryOutcome()
    while True:
        msg = await session.next_message()
        command = msg.command
        _check_response(
            command.command_field,
            command.message_id_being_responded_to,
            CommandField.C_FIND_RSP,
            message_id,
        )
        status = command.status
        if status not in PENDING:
            outcome.final_status = status
            return outcome
        if outcome.cancelled:
            outcome.drained += 1
            if outcome.drained > DRAIN_LIMIT:
                raise DicomProtocolError("endless-pending", "pending responses after C-CANCEL")
            continue
        if msg.dataset is None:
            raise DicomProtocolError("missing-identifier", "pending C-FIND-RSP without identifier")
        on_record(decode_identifier(msg.dataset, transfer_syntax))
        outcome.records += 1
        if outcome.records >= max_records or session.time_left() < reserve:
            session.send(context_id, c_cancel_rq(message_id))
            outcome.cancelled = True


class MoveOutcome(msgspec.Struct):
    final_status: int | None = None
    pending: int = 0


_UID_CHARACTERS = frozenset(b"0123456789.")
_MOVE_KEYS = {"STUDY": (0x0020, 0x000D, b"UI", b"\0"), "PATIENT": (0x0010, 0x0020, b"LO", b" ")}
"""Level → the one key a C-MOVE names at it: StudyInstanceUID or PatientID, VR, padding."""


def _element(group: int, element: int, vr: bytes, value: bytes, implicit: bool) -> bytes:
    if implicit:
        return struct.pack("<HHI", group, element, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


class MoveKey(msgspec.Struct, frozen=True):
    """The identifier of the C-MOVE check: the level and its one key, written by hand.

    Two elements in a fixed order need no dataset: building one with pydicom and writing it
    cost 0.19 ms per open host (the survey's one per-host identifier that cannot be cached,
    since the study UID is the host's own). The bytes equal pydicom's (tested).
    """

    level: str
    """``STUDY`` (StudyInstanceUID) or ``PATIENT`` (PatientID)."""
    value: bytes

    @staticmethod
    def is_uid(raw: bytes) -> bool:
        """A value a StudyInstanceUID may hold (PS3.5 9.1): digits and dots, at most 64."""
        return 0 < len(raw) <= 64 and _UID_CHARACTERS.issuperset(raw)

    def encode(self, transfer_syntax: str | None) -> bytes:
        group, element, vr, pad = _MOVE_KEYS[self.level]
        implicit = transfer_syntax != EXPLICIT_VR_LE
        level = self.level.encode("ascii")
        value = self.value
        return _element(
            0x0008, 0x0052, b"CS", level + b" " * (len(level) % 2), implicit
        ) + _element(group, element, vr, value + pad * (len(value) % 2), implicit)


async def move_to_unknown_destination(
    session: Session,
    context_id: int,
    sop_class: str,
    key: MoveKey,
    destination: str,
) -> MoveOutcome:
    """Ask for a C-MOVE to an AE title no server knows, and read the verdict.

    Nothing can be sent: the destination resolves to no address. A server that answers
    A801 "move destination unknown" has processed the request — it would send the study to any
    destination it knows. Any pending response is answered with C-CANCEL at once.
    """
    transfer_syntax = session.proto.accepted_contexts[context_id]
    message_id = session.next_message_id()
    session.send(
        context_id,
        c_move_rq(message_id, sop_class, destination),
        key.encode(transfer_syntax),
    )
    outcome = MoveOutcome()
    for _ in range(DRAIN_LIMIT):
        msg = await session.next_message()
        command = msg.command
        _check_response(
            command.command_field,
            command.message_id_being_responded_to,
            CommandField.C_MOVE_RSP,
            message_id,
        )
        if command.status not in PENDING:
            outcome.final_status = command.status
            return outcome
        if outcome.pending == 0:
            session.send(context_id, c_cancel_rq(message_id))
        outcome.pending += 1
    raise DicomProtocolError("endless-pending", "pending C-MOVE responses without end")
