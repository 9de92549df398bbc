"""Micro-benchmark: pacsaudit's hand-written PDU/DIMSE code against pynetdicom and pydicom.

Per operation, the best of several timing runs (robust to other load on the machine):

- decoding an A-ASSOCIATE-AC: ``pdu.parse_header`` + ``pdu.parse_body`` against pynetdicom's
  ``A_ASSOCIATE_AC().decode()`` (and ``decode()`` + ``to_primitive()``, which is what
  pynetdicom's DUL does with every AC). Two ACs: one captured live from a pynetdicom SCP on
  127.0.0.1 answering pacsaudit's own request, and DCMTK's 1-context AC from
  pynetdicom's test fixtures (``tests/encoded_pdu_items.py``) when they are installed;
- encoding a C-ECHO-RQ: ``dimse.c_echo_rq`` without its cache (+ ``pdu.encode_p_data``) against
  pydicom's dataset encoding and pynetdicom's primitive → message → P-DATA-TF path;
- decoding a C-ECHO-RSP command set: ``dimse.decode_command_set`` against pydicom.

Both sides' results are compared first, so a fast wrong answer cannot win.

Usage::

    .venv/bin/python bench/bench_pdu_parse.py
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import socket
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from io import BytesIO
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.dimse_messages import C_ECHO_RQ
from pynetdicom.dimse_primitives import C_ECHO
from pynetdicom.dsutils import decode, encode
from pynetdicom.pdu import A_ASSOCIATE_AC, P_DATA_TF

from pacsaudit.probes.dicom import pdu
from pacsaudit.probes.dicom.dimse import c_echo_rq, c_echo_rsp, decode_command_set
from pacsaudit.probes.dicom.proposal import PROPOSED_CONTEXTS, STORAGE_CONTEXTS, main_request

VERIFICATION = "1.2.840.10008.1.1"
MAX_PDU = 16382


def best_us(fn: Callable[[], object], repeat: int = 7) -> float:
    """Best per-call time in µs over ``repeat`` runs of an auto-sized loop."""
    number, _ = timeit.Timer(fn).autorange()
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def capture_live_ac() -> bytes:
    """The A-ASSOCIATE-AC a pynetdicom SCP on 127.0.0.1 sends to pacsaudit's main request
    (its own contexts and the storage classes)."""
    ae = AE(ae_title="PYNETDICOM")
    for ctx in PROPOSED_CONTEXTS + STORAGE_CONTEXTS:
        ae.add_supported_context(ctx.abstract_syntax, list(ctx.transfer_syntaxes))
    server = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        port = server.server_address[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(main_request("ANY-SCP", "PACSAUDIT", with_storage=True))
            data = b""
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                header = pdu.parse_header(data, 1 << 20)
                if header is not None and len(data) >= pdu.PDU_HEADER_LENGTH + header[1]:
                    break
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            sock.sendall(pdu.encode_abort())
    finally:
        server.shutdown()
    if not data or data[0] != pdu.PduType.ASSOCIATE_AC:
        raise SystemExit(f"the pynetdicom SCP did not accept the association: {data[:16]!r}")
    return data


def fixture_ac() -> bytes | None:
    try:
        from pynetdicom.tests.encoded_pdu_items import a_associate_ac
    except ImportError:
        return None
    fixture: bytes = a_associate_ac
    return fixture


def pacsaudit_decode(data: bytes) -> pdu.AssociateAccept:
    header = pdu.parse_header(data, 1 << 20)
    assert header is not None
    pdu_type, length = header
    item = pdu.parse_body(pdu_type, data[pdu.PDU_HEADER_LENGTH : pdu.PDU_HEADER_LENGTH + length])
    assert isinstance(item, pdu.AssociateAccept)
    return item


def uncached_decode(data: bytes) -> pdu.AssociateAccept:
    pdu._accept_items.cache_clear()
    return pacsaudit_decode(data)


def pynetdicom_decode(data: bytes) -> A_ASSOCIATE_AC:
    ac = A_ASSOCIATE_AC()
    ac.decode(data)
    return ac


def pynetdicom_decode_to_primitive(data: bytes) -> Any:
    ac = A_ASSOCIATE_AC()
    ac.decode(data)
    return ac.to_primitive()


def same_accept(data: bytes) -> None:
    """Both decoders must read the same contexts and user information."""
    ours = pacsaudit_decode(data)
    theirs = pynetdicom_decode(data).to_primitive()
    their_contexts = sorted(
        (c.context_id, c.result, c.transfer_syntax[0] if c.transfer_syntax else None)
        for c in theirs.presentation_context_definition_results_list
    )
    our_contexts = sorted((c.context_id, c.result, c.transfer_syntax) for c in ours.contexts)
    assert our_contexts == their_contexts, (our_contexts, their_contexts)
    assert ours.max_pdu_length == theirs.maximum_length_received
    assert ours.implementation_class_uid == theirs.implementation_class_uid
    version = next(
        (
            i.implementation_version_name
            for i in theirs.user_information
            if hasattr(i, "implementation_version_name")
        ),
        None,
    )
    assert ours.implementation_version_name == (version or None)


def pynetdicom_echo_pdu() -> bytes:
    """C-ECHO-RQ the way pynetdicom sends it: primitive → message → P-DATA-TF bytes."""
    primitive = C_ECHO()
    primitive.MessageID = 1
    primitive.AffectedSOPClassUID = VERIFICATION
    message = C_ECHO_RQ()
    message.primitive_to_message(primitive)
    out = b""
    for p_data in message.encode_msg(1, MAX_PDU):
        tf = P_DATA_TF()
        tf.from_primitive(p_data)
        out += tf.encode()
    return out


def pydicom_echo_command() -> bytes:
    ds = Dataset()
    ds.CommandGroupLength = 56
    ds.AffectedSOPClassUID = VERIFICATION
    ds.CommandField = 0x0030
    ds.MessageID = 1
    ds.CommandDataSetType = 0x0101
    encoded: bytes = encode(ds, True, True)
    return encoded


# The probe's c_echo_rq is cached per message ID (every association sends message ID 1): time
# the encoder behind the cache, or the comparison would time a dictionary lookup.
encode_echo_rq = c_echo_rq.__wrapped__


def pacsaudit_echo_pdu() -> bytes:
    return pdu.encode_p_data([(1, 0x03, encode_echo_rq(1))])


def row(name: str, ours: float, theirs: float, their_name: str) -> None:
    print(
        f"  {name:<44} {ours:8.2f} µs   {their_name:<26} {theirs:8.2f} µs   {theirs / ours:5.1f}x"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=7, help="timing runs per operation")
    args = parser.parse_args(argv)
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)

    samples = [("live pynetdicom SCP", capture_live_ac())]
    dcmtk = fixture_ac()
    if dcmtk is not None:
        samples.append(("DCMTK, pynetdicom's fixture", dcmtk))

    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"pynetdicom {metadata.version('pynetdicom')}, pydicom {metadata.version('pydicom')}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print("per operation, best of runs; last column = how many times faster pacsaudit is")
    for label, data in samples:
        same_accept(data)
        contexts = len(pacsaudit_decode(data).contexts)
        print(f"A-ASSOCIATE-AC decode ({label}: {contexts} contexts, {len(data)} bytes):")
        # A scan meets each kind of server many times: the AC's items come from a cache
        # after the first (pdu._accept_items). Both paths are timed.
        cold = best_us(lambda data=data: uncached_decode(data), args.repeat)
        ours = best_us(lambda data=data: pacsaudit_decode(data), args.repeat)
        theirs = best_us(lambda data=data: pynetdicom_decode(data), args.repeat)
        row("pacsaudit, first of its kind (no cache)", cold, theirs, "pynetdicom decode()")
        row("pacsaudit, its kind seen before (cache)", ours, theirs, "pynetdicom decode()")
        row(
            "",
            ours,
            best_us(lambda data=data: pynetdicom_decode_to_primitive(data), args.repeat),
            "+ to_primitive()",
        )

    assert c_echo_rq(1) == encode_echo_rq(1) == pydicom_echo_command(), "command sets differ"
    assert pacsaudit_echo_pdu() == pynetdicom_echo_pdu(), "P-DATA-TF PDUs differ"
    print("C-ECHO-RQ encode (byte-identical outputs):")
    row(
        "pacsaudit c_echo_rq uncached (command set)",
        best_us(lambda: encode_echo_rq(1), args.repeat),
        best_us(pydicom_echo_command, args.repeat),
        "pydicom Dataset + encode",
    )
    row(
        "pacsaudit c_echo_rq + encode_p_data (PDU)",
        best_us(pacsaudit_echo_pdu, args.repeat),
        best_us(pynetdicom_echo_pdu, args.repeat),
        "pynetdicom C_ECHO → P-DATA",
    )

    rsp = c_echo_rsp(1)
    assert decode_command_set(rsp).status == decode(BytesIO(rsp), True, True).Status == 0
    print("C-ECHO-RSP command set decode:")
    row(
        "pacsaudit dimse.decode_command_set",
        best_us(lambda: decode_command_set(rsp), args.repeat),
        best_us(lambda: decode(BytesIO(rsp), True, True).Status, args.repeat),
        "pydicom decode + .Status",
    )


if __name__ == "__main__":
    main()
