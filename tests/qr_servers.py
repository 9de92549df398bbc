"""Fake Query/Retrieve SCPs, written on purpose to misbehave (or to look like honeypots).

They accept every proposed context with Implicit VR Little Endian (the A-ASSOCIATE-AC encoded
by pynetdicom, an independent implementation), answer C-ECHO, and answer C-FIND in one of
several broken ways. Only for what no real server does on demand.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

from pydicom.dataset import Dataset

from hostile_servers import accept_for, drain_until_eof, read_pdu
from pacsaudit.probes.dicom import pdu
from pacsaudit.probes.dicom.dimse import CommandField, Tag, c_echo_rsp, decode_command_set
from pacsaudit.probes.dicom.dimse import encode_command_set as command
from pacsaudit.probes.dicom.query import encode_identifier

MAX_PDUS = 100_000
"""PDUs one test peer answers in a conversation: bounded, so every test loop ends."""

IMPLICIT = "1.2.840.10008.1.2"
PYNETDICOM_UID = "1.2.826.0.1.3680043.9.3811.3.0.4"


def accept_everything(
    request: bytes,
    *,
    class_uid: str | None = PYNETDICOM_UID,
    version: str | None = "PYNETDICOM_304",
    max_length: int = 16382,
) -> bytes:
    return accept_for(
        request, class_uid=class_uid, version=version, max_length=max_length, accept_all=True
    )


def find_rsp(message_id: int, status: int, has_dataset: bool) -> bytes:
    return command(
        {
            Tag.AFFECTED_SOP_CLASS_UID: "1.2.840.10008.5.1.4.1.2.2.1",
            Tag.COMMAND_FIELD: CommandField.C_FIND_RSP,
            Tag.MESSAGE_ID_BEING_RESPONDED_TO: message_id,
            Tag.COMMAND_DATA_SET_TYPE: 0x0000 if has_dataset else 0x0101,
            Tag.STATUS: status,
        }
    )


def study(n: int, uid_root: str = "2.25") -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = f"Hostile^Patient{n}"
    ds.PatientID = f"HOST{n:05d}"
    ds.StudyInstanceUID = f"{uid_root}.{n + 1}"
    ds.NumberOfStudyRelatedInstances = "3"
    return encode_identifier(ds, IMPLICIT)


LAST_LEVEL: contextvars.ContextVar[str] = contextvars.ContextVar("level", default="STUDY")
"""The Query/Retrieve Level of the C-FIND being answered (a behaviour may look at it)."""


def _level(identifier_pdu: bytes) -> str:
    for level in ("IMAGE", "SERIES", "PATIENT"):
        if level.encode() in identifier_pdu:
            return level
    return "STUDY"


FindBehaviour = Callable[[asyncio.StreamWriter, int, int], Awaitable[None]]
"""(writer, presentation context id, message id) → answer one C-FIND."""


def qr_server(
    on_find: FindBehaviour, **accept: Any
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, request = await read_pdu(reader)
        writer.write(accept_everything(request, **accept))
        for _ in range(MAX_PDUS):  # far more than any probe sends; ends by itself
            pdu_type, raw = await read_pdu(reader)
            if pdu_type == pdu.PduType.RELEASE_RQ:
                writer.write(pdu.RELEASE_RP)
                await writer.drain()
                await drain_until_eof(reader)
                return
            if pdu_type != pdu.PduType.P_DATA_TF:
                return
            parsed = pdu.parse_body(pdu_type, raw[6:])
            assert isinstance(parsed, pdu.PData)
            pdv = parsed.pdvs[0]
            if not pdv.is_command:
                continue  # the identifier of a C-FIND we already answer
            cmd = decode_command_set(pdv.data)
            field = cmd.command_field
            message_id = cmd.elements.get(Tag.MESSAGE_ID)
            if field == CommandField.C_ECHO_RQ:
                assert isinstance(message_id, int)
                writer.write(pdu.encode_p_data([(pdv.context_id, 0x03, c_echo_rsp(message_id))]))
            elif field == CommandField.C_FIND_RQ:
                assert isinstance(message_id, int)
                # Answer only after the identifier arrived.
                _, identifier = await read_pdu(reader)
                LAST_LEVEL.set(_level(identifier))
                await on_find(writer, pdv.context_id, message_id)
            elif field == CommandField.C_CANCEL_RQ:
                continue
            else:  # C-MOVE and anything else: refuse
                writer.write(
                    pdu.encode_p_data(
                        [(pdv.context_id, 0x03, find_rsp(message_id or 0, 0xA900, False))]
                    )
                )
            await writer.drain()

    return handler


def send_pending(writer: asyncio.StreamWriter, ctx: int, rsp: bytes, dataset: bytes) -> None:
    writer.write(pdu.encode_p_data([(ctx, 0x03, rsp)]))
    writer.write(pdu.encode_p_data([(ctx, 0x02, dataset)]))


async def endless_pending(writer: asyncio.StreamWriter, ctx: int, message_id: int) -> None:
    """Ignores C-CANCEL and never ends: only our bounds stop it."""
    rsp = find_rsp(message_id, 0xFF00, True)
    studies = [study(n) for n in range(100)]
    for n in range(1_000_000):
        send_pending(writer, ctx, rsp, studies[n % 100])
        await writer.drain()
        await asyncio.sleep(0)  # the scanner shares this event loop: let it read


async def wrong_message_id(writer: asyncio.StreamWriter, ctx: int, message_id: int) -> None:
    send_pending(writer, ctx, find_rsp(message_id + 7, 0xFF00, True), study(0))


async def malformed_identifier(writer: asyncio.StreamWriter, ctx: int, message_id: int) -> None:
    send_pending(writer, ctx, find_rsp(message_id, 0xFF00, True), study(0))
    # An element whose length runs past the end of the dataset.
    send_pending(
        writer, ctx, find_rsp(message_id, 0xFF00, True), b"\x10\x00\x10\x00\xff\xff\x00\x00ab"
    )


async def huge_identifier(writer: asyncio.StreamWriter, ctx: int, message_id: int) -> None:
    writer.write(pdu.encode_p_data([(ctx, 0x03, find_rsp(message_id, 0xFF00, True))]))
    chunk = bytes(60_000)
    for _ in range(400):  # 24 MB of dataset fragments, far past the 16 MiB message cap
        writer.write(pdu.encode_p_data([(ctx, 0x00, chunk)]))
        await writer.drain()


def fixed_studies(count: int, uid_root: str = "2.25") -> FindBehaviour:
    async def answer(writer: asyncio.StreamWriter, ctx: int, message_id: int) -> None:
        for n in range(count):
            send_pending(writer, ctx, find_rsp(message_id, 0xFF00, True), study(n, uid_root))
        writer.write(pdu.encode_p_data([(ctx, 0x03, find_rsp(message_id, 0x0000, False))]))

    return answer


def _series(study: int, series: int) -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = f"2.25.{study + 1}"
    ds.SeriesInstanceUID = f"2.25.{study + 1}.{series + 1}"
    ds.Modality = "CT"
    return encode_identifier(ds, IMPLICIT)


def _image(study: int, series: int, image: int) -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = "IMAGE"
    ds.StudyInstanceUID = f"2.25.{study + 1}"
    ds.SeriesInstanceUID = f"2.25.{study + 1}.{series + 1}"
    ds.SOPInstanceUID = f"2.25.{study + 1}.{series + 1}.{image + 1}"
    return encode_identifier(ds, IMPLICIT)


def ignores_keys(studies: int, series: int, images: int) -> FindBehaviour:
    """Answers every query with everything it holds at the level asked for, whatever study or
    series the query names (a real archive's bug, and one way published counts inflate);
    no Number of ... Related Instances, so the prober must go down to the IMAGE level."""

    async def answer(writer: asyncio.StreamWriter, ctx: int, message_id: int) -> None:
        level = LAST_LEVEL.get()
        rsp = find_rsp(message_id, 0xFF00, True)
        for st in range(studies):
            if level == "STUDY":
                ds = Dataset()
                ds.QueryRetrieveLevel = "STUDY"
                ds.PatientID = f"KEYS{st:03d}"
                ds.StudyInstanceUID = f"2.25.{st + 1}"
                send_pending(writer, ctx, rsp, encode_identifier(ds, IMPLICIT))
                continue
            for se in range(series):
                if level == "SERIES":
                    send_pending(writer, ctx, rsp, _series(st, se))
                    continue
                for im in range(images):
                    send_pending(writer, ctx, rsp, _image(st, se, im))
        writer.write(pdu.encode_p_data([(ctx, 0x03, find_rsp(message_id, 0x0000, False))]))

    return answer


def refuses(status: int) -> FindBehaviour:
    """Answers every C-FIND with a final failure status and no match (as a server that does
    not let this caller query would; the real ones in the lab abort instead)."""

    async def answer(writer: asyncio.StreamWriter, ctx: int, message_id: int) -> None:
        writer.write(pdu.encode_p_data([(ctx, 0x03, find_rsp(message_id, status, False))]))

    return answer
