"""Upper Layer PDUs: our encoders and strict decoders against annotated bytes and pynetdicom.

One class per message. Each checks three things: our encoder writes the annotated fixture
(``encoded_pdus.py``) byte for byte, pynetdicom (an independent implementation) reads what we
write to the same fields and we read what pynetdicom writes, and malformed variants raise
:class:`DicomProtocolError` (nothing else) with a code naming the broken rule.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from encoded_pdus import (
    ABORT_PROVIDER,
    ABORT_USER,
    AC_FIRST_CONTEXT_ITEM,
    AC_FIXED_PART_END,
    AC_MAX_LENGTH_SUBITEM,
    AC_USER_INFO_ITEM,
    APPLICATION_CONTEXT,
    ASSOCIATE_AC_DCMTK,
    ASSOCIATE_RJ_CALLED_AE,
    ASSOCIATE_RJ_CONGESTION,
    ASSOCIATE_RQ,
    DCMTK_UID,
    DCMTK_VERSION,
    IMPLICIT_VR_LE,
    P_DATA_C_ECHO_RQ,
    PACSAUDIT_UID,
    RELEASE_RP,
    RELEASE_RQ,
    VERIFICATION,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from pynetdicom.pdu import (
    A_ABORT_RQ,
    A_ASSOCIATE_AC,
    A_ASSOCIATE_RJ,
    A_ASSOCIATE_RQ,
    A_RELEASE_RP,
    A_RELEASE_RQ,
    P_DATA_TF,
)
from pynetdicom.pdu_items import PresentationDataValueItem
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    AsynchronousOperationsWindowNegotiation,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation,
)
from pynetdicom.presentation import PresentationContext

from pacsaudit.errors import ProtocolError
from pacsaudit.probes.dicom import pdu, reasons
from pacsaudit.probes.dicom.errors import DicomProtocolError
from pacsaudit.probes.dicom.proposal import (
    ADVERTISED_MAX_PDU,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    PROPOSED_CONTEXTS,
)

MAX = 1 << 20


def decode(raw: bytes, max_length: int = MAX) -> pdu.Pdu:
    """Decode one whole PDU the way the connection does: header first, then the body."""
    header = pdu.parse_header(raw, max_length)
    assert header is not None
    pdu_type, length = header
    assert len(raw) == pdu.PDU_HEADER_LENGTH + length, "PDU length field disagrees with bytes"
    return pdu.parse_body(pdu_type, raw[pdu.PDU_HEADER_LENGTH :])


def build(pdu_type: int, body: bytes) -> bytes:
    """A PDU with a correct length field around an arbitrary (possibly malformed) body."""
    return struct.pack(">BBL", pdu_type, 0, len(body)) + body


def item(item_type: int, payload: bytes, length: int | None = None) -> bytes:
    """An item; ``length`` overrides the length field to make it lie."""
    return struct.pack(">BBH", item_type, 0, len(payload) if length is None else length) + payload


def raises_code(code: str, call: Callable[[], object]) -> DicomProtocolError:
    with pytest.raises(DicomProtocolError) as info:
        call()
    err = info.value
    assert isinstance(err, ProtocolError)
    assert err.code == code, f"expected {code!r}, got {err.code!r}: {err}"
    return err


def verification_request(version: str | None = "PACSAUDIT_01") -> pdu.AssociateRequest:
    return pdu.AssociateRequest(
        called_ae="ANY-SCP",
        calling_ae="PACSAUDIT",
        contexts=(pdu.PresentationContextProposal(1, VERIFICATION, (IMPLICIT_VR_LE,)),),
        max_pdu_length=65536,
        implementation_class_uid=PACSAUDIT_UID,
        implementation_version_name=version,
    )


def pynetdicom_rq(raw: bytes) -> A_ASSOCIATE_RQ:
    rq = A_ASSOCIATE_RQ()
    rq.decode(raw)
    return rq


def pynetdicom_ac(
    contexts: list[tuple[int, int, str]],
    *,
    max_length: int = 16384,
    class_uid: str = DCMTK_UID,
    version: str | None = DCMTK_VERSION,
    called: str = "ANY-SCP",
    calling: str = "PACSAUDIT",
    extra: list[object] | None = None,
) -> bytes:
    """An A-ASSOCIATE-AC encoded by pynetdicom from (context id, result, transfer syntax)."""
    primitive = A_ASSOCIATE()
    primitive.application_context_name = APPLICATION_CONTEXT
    primitive.called_ae_title = called
    primitive.calling_ae_title = calling
    primitive.result = 0
    results = []
    for context_id, result, ts in contexts:
        ctx = PresentationContext()
        ctx.context_id = context_id
        ctx.result = result
        ctx.transfer_syntax = [ts]
        results.append(ctx)
    primitive.presentation_context_definition_results_list = results
    max_item = MaximumLengthNotification()
    max_item.maximum_length_received = max_length
    uid_item = ImplementationClassUIDNotification()
    uid_item.implementation_class_uid = class_uid
    user: list[Any] = [max_item, uid_item]
    if version is not None:
        version_item = ImplementationVersionNameNotification()
        version_item.implementation_version_name = version
        user.append(version_item)
    user.extend(extra or [])
    primitive.user_information = user
    encoded: bytes = A_ASSOCIATE_AC(primitive).encode()
    return encoded


# --- the 6-byte header ---------------------------------------------------------------------


class TestHeader:
    def test_needs_six_bytes(self) -> None:
        for n in range(pdu.PDU_HEADER_LENGTH):
            assert pdu.parse_header(ASSOCIATE_AC_DCMTK[:n], MAX) is None

    def test_type_and_length(self) -> None:
        assert pdu.parse_header(ASSOCIATE_AC_DCMTK[:6], MAX) == (0x02, 213)
        assert pdu.parse_header(RELEASE_RP, MAX) == (0x06, 4)

    def test_oversized_length_refused_before_the_body_arrives(self) -> None:
        # Only the header is there: the limit is checked without waiting for 4 GiB.
        err = raises_code(
            "oversized-pdu", lambda: pdu.parse_header(b"\x02\x00\xff\xff\xff\xff", MAX)
        )
        assert str(MAX) in err.message

    def test_length_at_the_limit_is_accepted(self) -> None:
        assert pdu.parse_header(b"\x04\x00\x00\x00\x10\x00", 4096) == (0x04, 4096)
        raises_code("oversized-pdu", lambda: pdu.parse_header(b"\x04\x00\x00\x00\x10\x01", 4096))

    @pytest.mark.parametrize("first", [0x00, 0x08, 0x16, 0x48, 0xFF])
    def test_unknown_type(self, first: int) -> None:
        raises_code(
            "unknown-pdu-type", lambda: pdu.parse_header(bytes([first, 0, 0, 0, 0, 4]), MAX)
        )

    def test_reserved_byte_not_tested(self) -> None:
        # PS3.8 9.3.1: reserved fields are sent as zero but not tested on receipt.
        assert pdu.parse_header(b"\x06\xaa\x00\x00\x00\x04", MAX) == (0x06, 4)


# --- A-ASSOCIATE-RQ ------------------------------------------------------------------------


class TestAssociateRq:
    def test_encodes_to_the_annotated_bytes(self) -> None:
        assert verification_request().encode() == ASSOCIATE_RQ

    def test_pynetdicom_reads_the_fixture(self) -> None:
        rq = pynetdicom_rq(ASSOCIATE_RQ)
        assert rq.protocol_version == 1
        assert rq.called_ae_title == "ANY-SCP"
        assert rq.calling_ae_title == "PACSAUDIT"
        assert rq.application_context_name == APPLICATION_CONTEXT
        (ctx,) = [c.to_primitive() for c in rq.presentation_context]
        assert (ctx.context_id, ctx.abstract_syntax, ctx.transfer_syntax) == (
            1,
            VERIFICATION,
            [IMPLICIT_VR_LE],
        )
        user = rq.user_information
        assert user is not None
        assert user.maximum_length == 65536
        assert user.implementation_class_uid == PACSAUDIT_UID
        assert user.implementation_version_name == "PACSAUDIT_01"
        assert rq.encode() == ASSOCIATE_RQ  # and pynetdicom writes the same bytes back

    def test_probe_template_reads_the_same_in_pynetdicom(self) -> None:
        raw = pdu.AssociateRequest(
            called_ae="ANY-SCP",
            calling_ae="PACSAUDIT",
            contexts=PROPOSED_CONTEXTS,
            max_pdu_length=ADVERTISED_MAX_PDU,
            implementation_class_uid=IMPLEMENTATION_CLASS_UID,
            implementation_version_name=IMPLEMENTATION_VERSION_NAME,
        ).encode()
        rq = pynetdicom_rq(raw)
        got = [
            (p.context_id, p.abstract_syntax, tuple(p.transfer_syntax))
            for p in (c.to_primitive() for c in rq.presentation_context)
        ]
        assert got == [
            (c.context_id, c.abstract_syntax, c.transfer_syntaxes) for c in PROPOSED_CONTEXTS
        ]
        assert rq.user_information is not None
        assert rq.user_information.maximum_length == ADVERTISED_MAX_PDU
        assert rq.user_information.implementation_class_uid == IMPLEMENTATION_CLASS_UID
        assert rq.user_information.implementation_version_name == IMPLEMENTATION_VERSION_NAME
        assert rq.encode() == raw

    def test_role_selection_items_read_the_same_in_pynetdicom(self) -> None:
        roles = (pdu.RoleSelection("1.2.840.10008.5.1.4.1.1.2", 1, 1),)
        raw = msgspec.structs.replace(verification_request(), roles=roles).encode()
        user = pynetdicom_rq(raw).user_information
        assert user is not None
        (role,) = user.role_selection.values()
        assert (role.sop_class_uid, role.scu_role, role.scp_role) == (
            "1.2.840.10008.5.1.4.1.1.2",
            True,
            True,
        )
        assert pynetdicom_rq(raw).encode() == raw

    def test_without_version_name_there_is_no_version_item(self) -> None:
        raw = verification_request(version=None).encode()
        assert b"\x55\x00" not in raw[pdu.CALLING_AE_OFFSET + 48 :]
        user = pynetdicom_rq(raw).user_information
        assert user is not None
        assert user.implementation_version_name is None
        assert len(raw) == len(ASSOCIATE_RQ) - 16

    def test_with_ae_titles_splices_only_the_titles(self) -> None:
        spliced = pdu.with_ae_titles(ASSOCIATE_RQ, "PA0123456789AB", "SCANNER")
        assert len(spliced) == len(ASSOCIATE_RQ)
        assert spliced[: pdu.CALLED_AE_OFFSET] == ASSOCIATE_RQ[: pdu.CALLED_AE_OFFSET]
        assert spliced[pdu.CALLING_AE_OFFSET + 16 :] == ASSOCIATE_RQ[pdu.CALLING_AE_OFFSET + 16 :]
        rq = pynetdicom_rq(spliced)
        assert (rq.called_ae_title, rq.calling_ae_title) == ("PA0123456789AB", "SCANNER")
        # calling AE title left alone when not given
        only_called = pynetdicom_rq(pdu.with_ae_titles(ASSOCIATE_RQ, "X"))
        assert (only_called.called_ae_title, only_called.calling_ae_title) == ("X", "PACSAUDIT")

    @pytest.mark.parametrize(
        "title", ["", "   ", "A" * 17, "BACK\\SLASH", "TAB\tS", "NUL\0", "DEL\x7f", "ÆTITLE"]
    )
    def test_invalid_ae_titles_refused(self, title: str) -> None:
        with pytest.raises(ValueError, match="AE title"):
            pdu.encode_ae_title(title)

    def test_sixteen_character_title_fits(self) -> None:
        assert pdu.encode_ae_title("A" * 16) == b"A" * 16
        assert pdu.encode_ae_title("ANY-SCP") == b"ANY-SCP         "

    @pytest.mark.parametrize("context_id", [0, 2, 256, -1])
    def test_context_ids_must_be_odd_and_one_byte(self, context_id: int) -> None:
        request = pdu.AssociateRequest(
            "A",
            "B",
            (pdu.PresentationContextProposal(context_id, VERIFICATION, (IMPLICIT_VR_LE,)),),
            16384,
            PACSAUDIT_UID,
        )
        with pytest.raises(ValueError, match="context id"):
            request.encode()

    def test_a_requestor_never_receives_one(self) -> None:
        raises_code("unexpected-pdu", lambda: decode(ASSOCIATE_RQ))


# --- A-ASSOCIATE-AC ------------------------------------------------------------------------

DCMTK_ACCEPT = pdu.AssociateAccept(
    called_ae="ANY-SCP",
    calling_ae="PACSAUDIT",
    protocol_version=1,
    application_context=APPLICATION_CONTEXT,
    contexts=(
        pdu.PresentationContextResult(1, 0, IMPLICIT_VR_LE),
        pdu.PresentationContextResult(3, 3, IMPLICIT_VR_LE),
    ),
    max_pdu_length=16384,
    implementation_class_uid=DCMTK_UID,
    implementation_version_name=DCMTK_VERSION,
)
AC_BODY = ASSOCIATE_AC_DCMTK[pdu.PDU_HEADER_LENGTH :]


def ac_with_items(*items: bytes) -> bytes:
    """An A-ASSOCIATE-AC with the fixture's fixed part and the given variable items."""
    return build(0x02, AC_BODY[:68] + b"".join(items))


class TestAssociateAc:
    def test_decodes_the_dcmtk_fixture(self) -> None:
        assert decode(ASSOCIATE_AC_DCMTK) == DCMTK_ACCEPT

    def test_pynetdicom_reads_the_fixture_the_same(self) -> None:
        ac = A_ASSOCIATE_AC()
        ac.decode(ASSOCIATE_AC_DCMTK)
        assert ac.reserved_aet == "ANY-SCP"
        assert ac.application_context_name == APPLICATION_CONTEXT
        got = [(c.context_id, c.result_reason, c.transfer_syntax) for c in ac.presentation_context]
        assert got == [(1, 0, IMPLICIT_VR_LE), (3, 3, IMPLICIT_VR_LE)]
        assert ac.user_information is not None
        assert ac.user_information.maximum_length == 16384
        assert ac.user_information.implementation_class_uid == DCMTK_UID
        assert ac.user_information.implementation_version_name == DCMTK_VERSION

    def test_pynetdicom_encoding_of_the_same_answer_is_the_fixture(self) -> None:
        assert pynetdicom_ac([(1, 0, IMPLICIT_VR_LE), (3, 3, IMPLICIT_VR_LE)]) == ASSOCIATE_AC_DCMTK

    def test_the_items_cache_keeps_each_answers_own_titles_and_never_a_failure(self) -> None:
        """Two servers of one kind send the same items under other AE titles: each answer keeps
        its own titles. A malformed answer raises every time (a raise is never cached), and the
        same items after it still decode."""
        contexts = [(1, 0, IMPLICIT_VR_LE), (3, 3, IMPLICIT_VR_LE)]
        first = decode(pynetdicom_ac(contexts, called="SERVER-A"))
        second = decode(pynetdicom_ac(contexts, called="SERVER-B", calling="OTHER"))
        assert isinstance(first, pdu.AssociateAccept)
        assert isinstance(second, pdu.AssociateAccept)
        assert (first.called_ae, second.called_ae, second.calling_ae) == (
            "SERVER-A",
            "SERVER-B",
            "OTHER",
        )
        assert first.contexts == second.contexts == DCMTK_ACCEPT.contexts
        lying = ac_with_items(item(0x21, bytes(4), length=200))
        for _ in range(2):
            raises_code("truncated-item", lambda: decode(lying))
        assert decode(ASSOCIATE_AC_DCMTK) == DCMTK_ACCEPT

    def test_other_user_items_are_listed_not_fatal(self) -> None:
        role = SCP_SCU_RoleSelectionNegotiation()
        role.sop_class_uid = VERIFICATION
        role.scu_role = True
        role.scp_role = False
        window = AsynchronousOperationsWindowNegotiation()
        window.maximum_number_operations_invoked = 1
        window.maximum_number_operations_performed = 1
        raw = pynetdicom_ac([(1, 0, IMPLICIT_VR_LE)], extra=[role, window])
        accept = decode(raw)
        assert isinstance(accept, pdu.AssociateAccept)
        assert accept.extra_user_items == (0x53,)
        assert accept.roles == (pdu.RoleSelection(VERIFICATION, 1, 0),)
        assert accept.implementation_class_uid == DCMTK_UID

    def test_role_selection_items_decode_as_pynetdicom_wrote_them(self) -> None:
        roles = []
        for uid, scu, scp in (("1.2.840.10008.5.1.4.1.1.2", True, True), ("1.2.3", False, True)):
            role = SCP_SCU_RoleSelectionNegotiation()
            role.sop_class_uid = uid
            role.scu_role = scu
            role.scp_role = scp
            roles.append(role)
        accept = decode(pynetdicom_ac([(1, 0, IMPLICIT_VR_LE)], extra=roles))
        assert isinstance(accept, pdu.AssociateAccept)
        assert accept.roles == (
            pdu.RoleSelection("1.2.840.10008.5.1.4.1.1.2", 1, 1),
            pdu.RoleSelection("1.2.3", 0, 1),
        )

    @pytest.mark.parametrize(
        "payload",
        [
            b"\x00",  # shorter than a UID length and two roles
            b"\x00\x05" + b"1.2.3",  # the roles are missing
            b"\x00\x09" + b"1.2.3" + b"\x01\x01",  # the UID length runs past the item
            b"\x00\x01" + b"1.2.3" + b"\x01\x01",  # bytes left over after the roles
        ],
    )
    def test_malformed_role_selection_is_a_protocol_error(self, payload: bytes) -> None:
        user = item(0x50, item(0x54, payload))
        raises_code("invalid-item", lambda: decode(ac_with_items(user)))

    def test_missing_optional_items_are_none(self) -> None:
        accept = decode(ac_with_items())
        assert isinstance(accept, pdu.AssociateAccept)
        assert accept.contexts == ()
        assert accept.application_context is None
        assert accept.max_pdu_length is None
        assert accept.implementation_class_uid is None
        assert accept.implementation_version_name is None

    def test_padding_and_odd_bytes_in_text_fields(self) -> None:
        # Some toolkits pad UIDs with NUL or space; non-ASCII bytes never raise.
        user = item(0x50, item(0x52, b"1.2.3\x00") + item(0x55, b"V\xff1 "))
        accept = decode(ac_with_items(user))
        assert isinstance(accept, pdu.AssociateAccept)
        assert accept.implementation_class_uid == "1.2.3"
        assert accept.implementation_version_name == "V\\xff1"  # the byte, shown as it is

    def test_escape_sequences_in_text_fields_are_made_visible(self) -> None:
        # ESC[2J clears the operator's screen; OSC 8 makes a live link; a backslash the peer
        # sends stays distinct from an escape we wrote.
        version = b"\x1b[2J\x1b]8;;http://x/\x07\\"
        user = item(0x50, item(0x52, b"1.2\x9b3") + item(0x55, version))
        accept = decode(ac_with_items(user))
        assert isinstance(accept, pdu.AssociateAccept)
        assert accept.implementation_class_uid == "1.2\\x9b3"
        assert accept.implementation_version_name == "\\x1b[2J\\x1b]8;;http://x/\\x07\\x5c"

    def test_only_item_boundaries_are_valid_truncations(self) -> None:
        boundaries = {68, 68 + 25, 68 + 25 + 29, 68 + 25 + 58, len(AC_BODY)}
        codes: dict[int, str | None] = {}
        for n in range(len(AC_BODY) + 1):
            try:
                pdu.parse_body(0x02, AC_BODY[:n])
            except DicomProtocolError as exc:
                codes[n] = exc.code
            else:
                codes[n] = None
        assert {n for n, code in codes.items() if code is None} == boundaries
        assert set(codes.values()) == {None, "truncated-pdu", "truncated-item"}

    def test_shorter_than_fixed_part(self) -> None:
        raises_code("truncated-pdu", lambda: decode(build(0x02, AC_BODY[:67])))

    def test_truncated_item_header(self) -> None:
        raises_code("truncated-item", lambda: decode(ac_with_items(b"\x10\x00\x00")))

    def test_item_length_overruns_the_pdu(self) -> None:
        raw = bytearray(ASSOCIATE_AC_DCMTK)
        raw[AC_USER_INFO_ITEM + 2 : AC_USER_INFO_ITEM + 4] = b"\x00\x3b"  # one past the end
        raises_code("truncated-item", lambda: decode(bytes(raw)))
        raw[AC_USER_INFO_ITEM + 2 : AC_USER_INFO_ITEM + 4] = b"\xff\xff"
        raises_code("truncated-item", lambda: decode(bytes(raw)))

    def test_sub_item_overruns_its_item(self) -> None:
        raw = bytearray(ASSOCIATE_AC_DCMTK)
        ts_length = AC_FIRST_CONTEXT_ITEM + 4 + 4 + 2
        raw[ts_length : ts_length + 2] = b"\x00\x12"  # 18 > the 17 bytes left in the item
        raises_code("truncated-item", lambda: decode(bytes(raw)))

    def test_user_sub_item_overruns_its_item(self) -> None:
        user = item(0x50, item(0x52, b"1.2.3", length=6))
        raises_code("truncated-item", lambda: decode(ac_with_items(user)))

    def test_defect_after_a_good_context_is_found(self) -> None:
        good = item(0x21, b"\x01\x00\x00\x00" + item(0x40, IMPLICIT_VR_LE.encode()))
        bad_user = item(0x50, item(0x51, b"\x00\x00\x40"))
        raises_code("invalid-item", lambda: decode(ac_with_items(good, bad_user)))
        raises_code("truncated-item", lambda: decode(ac_with_items(good, b"\x50\x00")))

    def test_text_fields_are_trimmed_and_the_last_transfer_syntax_counts(self) -> None:
        ctx = item(0x21, b"\x05\x00\x00\x00" + item(0x40, b"1.2\x00") + item(0x40, b" 1.2.840 "))
        accept = decode(ac_with_items(item(0x10, b"1.2.840.10008.3.1.1.1\x00"), ctx))
        assert isinstance(accept, pdu.AssociateAccept)
        assert accept.application_context == APPLICATION_CONTEXT
        assert accept.contexts == (pdu.PresentationContextResult(5, 0, "1.2.840"),)

    def test_presentation_context_item_too_short(self) -> None:
        raises_code("truncated-item", lambda: decode(ac_with_items(item(0x21, b"\x01\x00\x00"))))

    @pytest.mark.parametrize("value", [b"", b"\x40\x00", b"\x00\x00\x40\x00\x00"])
    def test_maximum_length_item_of_wrong_size(self, value: bytes) -> None:
        raises_code("invalid-item", lambda: decode(ac_with_items(item(0x50, item(0x51, value)))))

    def test_maximum_length_zero_means_unlimited_and_is_kept(self) -> None:
        raw = bytearray(ASSOCIATE_AC_DCMTK)
        raw[AC_MAX_LENGTH_SUBITEM + 4 : AC_MAX_LENGTH_SUBITEM + 8] = bytes(4)
        accept = decode(bytes(raw))
        assert isinstance(accept, pdu.AssociateAccept)
        assert accept.max_pdu_length == 0

    def test_fixed_offsets_of_the_fixture(self) -> None:
        # The offsets the malformation tests rely on point where they claim.
        assert ASSOCIATE_AC_DCMTK[AC_FIXED_PART_END] == 0x10
        assert ASSOCIATE_AC_DCMTK[AC_FIRST_CONTEXT_ITEM] == 0x21
        assert ASSOCIATE_AC_DCMTK[AC_USER_INFO_ITEM] == 0x50
        assert ASSOCIATE_AC_DCMTK[AC_MAX_LENGTH_SUBITEM] == 0x51

    @settings(max_examples=60, deadline=None)
    @given(
        contexts=st.lists(
            st.tuples(
                st.integers(0, 127).map(lambda n: 2 * n + 1),
                st.integers(0, 4),
                st.sampled_from([IMPLICIT_VR_LE, "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.50"]),
            ),
            max_size=8,
            unique_by=lambda c: c[0],
        ),
        max_length=st.integers(0, 0xFFFFFFFF),
        class_uid=st.lists(st.integers(1, 10**6).map(str), min_size=2, max_size=8).map(".".join),
        version=st.none() | st.text("ABCXYZ_0123456789", min_size=1, max_size=16),
        titles=st.tuples(
            st.text("ABCDEFGHIJ-_0123456789", min_size=1, max_size=16),
            st.text("ABCDEFGHIJ-_0123456789", min_size=1, max_size=16),
        ),
    )
    def test_every_pynetdicom_accept_decodes_to_the_same_fields(
        self,
        contexts: list[tuple[int, int, str]],
        max_length: int,
        class_uid: str,
        version: str | None,
        titles: tuple[str, str],
    ) -> None:
        raw = pynetdicom_ac(
            contexts,
            max_length=max_length,
            class_uid=class_uid,
            version=version,
            called=titles[0],
            calling=titles[1],
        )
        assert decode(raw) == pdu.AssociateAccept(
            called_ae=titles[0],
            calling_ae=titles[1],
            protocol_version=1,
            application_context=APPLICATION_CONTEXT,
            contexts=tuple(pdu.PresentationContextResult(*c) for c in contexts),
            max_pdu_length=max_length,
            implementation_class_uid=class_uid,
            implementation_version_name=version,
        )


# --- A-ASSOCIATE-RJ ------------------------------------------------------------------------


class TestAssociateRj:
    def test_encode(self) -> None:
        assert pdu.encode_associate_rj(1, 1, 7) == ASSOCIATE_RJ_CALLED_AE
        assert pdu.encode_associate_rj(2, 3, 1) == ASSOCIATE_RJ_CONGESTION

    @pytest.mark.parametrize(
        ("raw", "fields"),
        [(ASSOCIATE_RJ_CALLED_AE, (1, 1, 7)), (ASSOCIATE_RJ_CONGESTION, (2, 3, 1))],
    )
    def test_decode_and_pynetdicom_agree(self, raw: bytes, fields: tuple[int, int, int]) -> None:
        assert decode(raw) == pdu.AssociateReject(*fields)
        rj = A_ASSOCIATE_RJ()
        rj.decode(raw)
        assert (rj.result, rj.source, rj.reason_diagnostic) == fields

    @pytest.mark.parametrize(
        "fields", [(1, 1, 1), (1, 1, 2), (1, 1, 3), (2, 2, 2), (2, 3, 2), (1, 2, 1)]
    )
    def test_pynetdicom_encoded_decodes(self, fields: tuple[int, int, int]) -> None:
        rj = A_ASSOCIATE_RJ()
        rj.result, rj.source, rj.reason_diagnostic = fields
        assert decode(rj.encode()) == pdu.AssociateReject(*fields)

    @pytest.mark.parametrize("body", [b"", b"\x00\x01\x01", b"\x00\x01\x01\x07\x00"])
    def test_wrong_fixed_length(self, body: bytes) -> None:
        raises_code("invalid-pdu", lambda: decode(build(0x03, body)))

    def test_in_words(self) -> None:
        info = reasons.reject_info(1, 1, 7)
        assert (info.result, info.source, info.reason) == (
            "rejected-permanent",
            "service-user",
            "called-ae-title-not-recognized",
        )
        assert reasons.reject_info(1, 1, 3).reason == "calling-ae-title-not-recognized"
        assert reasons.reject_info(2, 3, 1).reason == "temporary-congestion"
        # Reason codes depend on the source: 2 means something else for source 2.
        assert reasons.reject_info(1, 2, 2).reason == "protocol-version-not-supported"
        odd = reasons.reject_info(9, 9, 9)
        assert (odd.result, odd.source, odd.reason) == ("unknown-9", "unknown-9", "unknown-9")
        assert (odd.result_code, odd.source_code, odd.reason_code) == (9, 9, 9)


# --- A-ABORT -------------------------------------------------------------------------------


class TestAbort:
    def test_encode(self) -> None:
        assert pdu.encode_abort() == ABORT_USER
        assert pdu.encode_abort(2, 6) == ABORT_PROVIDER

    @pytest.mark.parametrize(("raw", "fields"), [(ABORT_USER, (0, 0)), (ABORT_PROVIDER, (2, 6))])
    def test_decode_and_pynetdicom_agree(self, raw: bytes, fields: tuple[int, int]) -> None:
        assert decode(raw) == pdu.Abort(*fields)
        abort = A_ABORT_RQ()
        abort.decode(raw)
        assert (abort.source, abort.reason_diagnostic) == fields

    @pytest.mark.parametrize("fields", [(0, 0), (2, 0), (2, 1), (2, 2), (2, 4), (2, 5), (2, 6)])
    def test_pynetdicom_encoded_decodes(self, fields: tuple[int, int]) -> None:
        abort = A_ABORT_RQ()
        abort.source, abort.reason_diagnostic = fields
        assert decode(abort.encode()) == pdu.Abort(*fields)

    @pytest.mark.parametrize("body", [b"", b"\x00\x00\x02", b"\x00\x00\x02\x06\x00\x00"])
    def test_wrong_fixed_length(self, body: bytes) -> None:
        raises_code("invalid-pdu", lambda: decode(build(0x07, body)))

    def test_in_words(self) -> None:
        provider = reasons.abort_info(2, 6)
        assert (provider.source, provider.reason) == (
            "service-provider",
            "invalid-pdu-parameter-value",
        )
        # The reason is significant only when the service provider aborts (PS3.8 9.3.8).
        assert reasons.abort_info(0, 6).reason == "not-significant"
        assert reasons.abort_info(0, 6).reason_code == 6
        assert reasons.abort_info(2, 3).reason == "unknown-3"


# --- P-DATA-TF -----------------------------------------------------------------------------


class TestPDataTf:
    def test_encode(self) -> None:
        command = P_DATA_C_ECHO_RQ[12:]
        assert pdu.encode_p_data([(1, 0x03, command)]) == P_DATA_C_ECHO_RQ

    def test_decode(self) -> None:
        assert decode(P_DATA_C_ECHO_RQ) == pdu.PData(
            (pdu.Pdv(1, is_command=True, is_last=True, data=P_DATA_C_ECHO_RQ[12:]),)
        )

    def test_pynetdicom_reads_ours(self) -> None:
        raw = pdu.encode_p_data([(1, 0x01, b"cmd1"), (1, 0x03, b"cmd2"), (3, 0x02, b"data")])
        p_data = P_DATA_TF()
        p_data.decode(raw)
        got = [
            (v.presentation_context_id, v.presentation_data_value)
            for v in p_data.presentation_data_value_items
        ]
        # pynetdicom keeps the message control header as the value's first byte.
        assert got == [(1, b"\x01cmd1"), (1, b"\x03cmd2"), (3, b"\x02data")]

    def test_we_read_pynetdicom(self) -> None:
        p_data = P_DATA_TF()
        for context_id, value in ((5, b"\x00dataset"), (5, b"\x02"), (7, b"\x03\x00\x01")):
            pdv = PresentationDataValueItem()
            pdv.presentation_context_id = context_id
            pdv.presentation_data_value = value
            p_data.presentation_data_value_items.append(pdv)
        assert decode(p_data.encode()) == pdu.PData(
            (
                pdu.Pdv(5, is_command=False, is_last=False, data=b"dataset"),
                pdu.Pdv(5, is_command=False, is_last=True, data=b""),
                pdu.Pdv(7, is_command=True, is_last=True, data=b"\x00\x01"),
            )
        )

    def test_message_control_header_bits(self) -> None:
        # Bits 2-7 are reserved: only bits 0 (command) and 1 (last) are read.
        for mch, expected in ((0x00, (False, False)), (0x01, (True, False)), (0xFE, (False, True))):
            parsed = decode(pdu.encode_p_data([(1, mch, b"x")]))
            assert isinstance(parsed, pdu.PData)
            assert (parsed.pdvs[0].is_command, parsed.pdvs[0].is_last) == expected

    def test_empty(self) -> None:
        raises_code("invalid-pdu", lambda: decode(build(0x04, b"")))

    @pytest.mark.parametrize("length", [0, 1])
    def test_pdv_length_below_its_header(self, length: int) -> None:
        raises_code(
            "truncated-item", lambda: decode(build(0x04, struct.pack(">LBB", length, 1, 3)))
        )

    def test_pdv_overruns(self) -> None:
        body = struct.pack(">LBB", 7, 1, 3) + b"abcd"  # claims 5 data bytes, has 4
        raises_code("truncated-item", lambda: decode(build(0x04, body)))
        huge = struct.pack(">LBB", 0xFFFFFFFF, 1, 3) + b"abcd"
        raises_code("truncated-item", lambda: decode(build(0x04, huge)))

    def test_truncated_pdv_header_after_a_good_pdv(self) -> None:
        body = P_DATA_C_ECHO_RQ[6:] + b"\x00\x00\x00\x02\x01"
        raises_code("truncated-item", lambda: decode(build(0x04, body)))


# --- A-RELEASE-RQ / A-RELEASE-RP ----------------------------------------------------------


class TestRelease:
    def test_encode(self) -> None:
        assert pdu.RELEASE_RQ == RELEASE_RQ
        assert pdu.RELEASE_RP == RELEASE_RP

    def test_decode(self) -> None:
        assert decode(RELEASE_RQ) == pdu.ReleaseRequest()
        assert decode(RELEASE_RP) == pdu.ReleaseReply()

    def test_pynetdicom_agrees_both_ways(self) -> None:
        rq, rp = A_RELEASE_RQ(), A_RELEASE_RP()
        rq.decode(pdu.RELEASE_RQ)
        rp.decode(pdu.RELEASE_RP)
        assert rq.encode() == RELEASE_RQ
        assert rp.encode() == RELEASE_RP
        assert decode(A_RELEASE_RQ().encode()) == pdu.ReleaseRequest()
        assert decode(A_RELEASE_RP().encode()) == pdu.ReleaseReply()

    @pytest.mark.parametrize("pdu_type", [0x05, 0x06])
    @pytest.mark.parametrize("body", [b"", b"\x00\x00\x00", b"\x00" * 5])
    def test_wrong_fixed_length(self, pdu_type: int, body: bytes) -> None:
        raises_code("invalid-pdu", lambda: decode(build(pdu_type, body)))


@pytest.mark.parametrize("code", range(128))
def test_ae_title_characters(code: int) -> None:
    """PS3.5 6.2 (VR AE): the default repertoire without control characters and backslash."""
    title = f"AB{chr(code)}C"
    allowed = 0x20 <= code < 0x7F and code != 0x5C
    if allowed:
        assert pdu.encode_ae_title(title) == title.encode().ljust(16)
    else:
        with pytest.raises(ValueError, match="AE title"):
            pdu.encode_ae_title(title)


@settings(max_examples=100, deadline=None)
@given(
    context_id=st.integers(1, 255),
    control=st.integers(0, 3),
    data=st.binary(max_size=300),
)
def test_single_pdv_is_what_encode_p_data_makes(context_id: int, control: int, data: bytes) -> None:
    assert pdu.encode_single_pdv(context_id, control, data) == pdu.encode_p_data(
        [(context_id, control, data)]
    )
