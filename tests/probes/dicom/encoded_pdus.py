"""Encoded Upper Layer PDUs and DIMSE command sets, written out byte by byte (PS3.8 9.3, PS3.7 E).

Each fixture is the wire form of one message with every field annotated, so that a failing test
points at a field and a reader can check the layout against the standard's tables without
running anything. They are written by hand from the standard, not produced by our encoders:
``test_pdu.py`` asserts that our encoders produce exactly these bytes and that pynetdicom
decodes them to the same fields.
"""

from __future__ import annotations

PACSAUDIT_UID = "2.25.158577293499648220484904446924696762975"
DCMTK_UID = "1.2.276.0.7230010.3.0.3.6.7"
DCMTK_VERSION = "OFFIS_DCMTK_367"
VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"

# --- A-ASSOCIATE-RQ, as pacsaudit sends it (PS3.8 Table 9-11) --------------------------------
# One presentation context (Verification, Implicit VR Little Endian); maximum length 64 KiB.
ASSOCIATE_RQ = (
    b"\x01"  # PDU type: A-ASSOCIATE-RQ
    b"\x00"  # reserved
    b"\x00\x00\x00\xdb"  # PDU length: 219 bytes follow
    b"\x00\x01"  # protocol version: bit 0 set (version 1)
    b"\x00\x00"  # reserved
    b"ANY-SCP         "  # called AE title, 16 bytes, space padded
    b"PACSAUDIT       "  # calling AE title, 16 bytes, space padded
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # reserved, 1st 16 of 32
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # reserved, 2nd 16 of 32
    # Application Context item (Table 9-12)
    b"\x10"  # item type: application context
    b"\x00"  # reserved
    b"\x00\x15"  # item length: 21
    b"1.2.840.10008.3.1.1.1"  # DICOM application context name, not padded
    # Presentation Context item, RQ (Table 9-13)
    b"\x20"  # item type: presentation context (RQ)
    b"\x00"  # reserved
    b"\x00\x2e"  # item length: 46
    b"\x01"  # presentation context id: 1 (odd)
    b"\x00\x00\x00"  # reserved
    b"\x30"  # sub-item type: abstract syntax (Table 9-14)
    b"\x00"  # reserved
    b"\x00\x11"  # sub-item length: 17
    b"1.2.840.10008.1.1"  # Verification SOP Class
    b"\x40"  # sub-item type: transfer syntax (Table 9-15)
    b"\x00"  # reserved
    b"\x00\x11"  # sub-item length: 17
    b"1.2.840.10008.1.2"  # Implicit VR Little Endian
    # User Information item (Table 9-16)
    b"\x50"  # item type: user information
    b"\x00"  # reserved
    b"\x00\x48"  # item length: 72
    b"\x51"  # sub-item type: maximum length (PS3.8 D.1)
    b"\x00"  # reserved
    b"\x00\x04"  # sub-item length: 4
    b"\x00\x01\x00\x00"  # maximum length received: 65536
    b"\x52"  # sub-item type: implementation class UID (PS3.7 D.3.3.2)
    b"\x00"  # reserved
    b"\x00\x2c"  # sub-item length: 44
    b"2.25.158577293499648220484904446924696762975"  # pacsaudit's UUID-derived UID
    b"\x55"  # sub-item type: implementation version name
    b"\x00"  # reserved
    b"\x00\x0c"  # sub-item length: 12
    b"PACSAUDIT_01"  # implementation version name
)

# --- A-ASSOCIATE-AC, as DCMTK 3.6.7 (dcmqrscp, Orthanc 1.10) answers it (Table 9-17) ---------
# Context 1 accepted with Implicit VR Little Endian; context 3 refused (abstract syntax not
# supported); maximum length 16384, DCMTK's default.
ASSOCIATE_AC_DCMTK = (
    b"\x02"  # PDU type: A-ASSOCIATE-AC
    b"\x00"  # reserved
    b"\x00\x00\x00\xd5"  # PDU length: 213 bytes follow
    b"\x00\x01"  # protocol version 1
    b"\x00\x00"  # reserved
    b"ANY-SCP         "  # reserved, echoes the called AE title (not tested on receipt)
    b"PACSAUDIT       "  # reserved, echoes the calling AE title (not tested on receipt)
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # reserved, 1st 16 of 32
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # reserved, 2nd 16 of 32
    # Application Context item
    b"\x10"  # item type: application context
    b"\x00"  # reserved
    b"\x00\x15"  # item length: 21
    b"1.2.840.10008.3.1.1.1"  # DICOM application context name
    # Presentation Context item, AC (Table 9-18)
    b"\x21"  # item type: presentation context (AC)
    b"\x00"  # reserved
    b"\x00\x19"  # item length: 25
    b"\x01"  # presentation context id: 1
    b"\x00"  # reserved
    b"\x00"  # result/reason: 0, acceptance
    b"\x00"  # reserved
    b"\x40"  # sub-item type: transfer syntax
    b"\x00"  # reserved
    b"\x00\x11"  # sub-item length: 17
    b"1.2.840.10008.1.2"  # Implicit VR Little Endian
    # Presentation Context item, AC: a refused one
    b"\x21"  # item type: presentation context (AC)
    b"\x00"  # reserved
    b"\x00\x19"  # item length: 25
    b"\x03"  # presentation context id: 3
    b"\x00"  # reserved
    b"\x03"  # result/reason: 3, abstract syntax not supported
    b"\x00"  # reserved
    b"\x40"  # sub-item type: transfer syntax (not significant when refused)
    b"\x00"  # reserved
    b"\x00\x11"  # sub-item length: 17
    b"1.2.840.10008.1.2"  # Implicit VR Little Endian
    # User Information item
    b"\x50"  # item type: user information
    b"\x00"  # reserved
    b"\x00\x3a"  # item length: 58
    b"\x51"  # sub-item type: maximum length
    b"\x00"  # reserved
    b"\x00\x04"  # sub-item length: 4
    b"\x00\x00\x40\x00"  # maximum length received: 16384
    b"\x52"  # sub-item type: implementation class UID
    b"\x00"  # reserved
    b"\x00\x1b"  # sub-item length: 27 (odd: Upper Layer UIDs are not padded)
    b"1.2.276.0.7230010.3.0.3.6.7"  # DCMTK's root .0.3.6.7: DCMTK 3.6.7
    b"\x55"  # sub-item type: implementation version name
    b"\x00"  # reserved
    b"\x00\x0f"  # sub-item length: 15
    b"OFFIS_DCMTK_367"  # implementation version name
)
AC_FIXED_PART_END = 6 + 68
"""Offset of the first variable item of an A-ASSOCIATE-AC, header included."""
AC_FIRST_CONTEXT_ITEM = AC_FIXED_PART_END + 25
AC_USER_INFO_ITEM = AC_FIRST_CONTEXT_ITEM + 29 + 29
AC_MAX_LENGTH_SUBITEM = AC_USER_INFO_ITEM + 4

# --- A-ASSOCIATE-RJ (Table 9-21) ----------------------------------------------------------
ASSOCIATE_RJ_CALLED_AE = (
    b"\x03"  # PDU type: A-ASSOCIATE-RJ
    b"\x00"  # reserved
    b"\x00\x00\x00\x04"  # PDU length: 4 (fixed)
    b"\x00"  # reserved
    b"\x01"  # result: 1, rejected-permanent
    b"\x01"  # source: 1, DICOM UL service-user
    b"\x07"  # reason: 7, called AE title not recognized
)
ASSOCIATE_RJ_CONGESTION = (
    b"\x03"  # PDU type: A-ASSOCIATE-RJ
    b"\x00"  # reserved
    b"\x00\x00\x00\x04"  # PDU length: 4
    b"\x00"  # reserved
    b"\x02"  # result: 2, rejected-transient
    b"\x03"  # source: 3, service-provider (presentation related function)
    b"\x01"  # reason: 1, temporary congestion
)

# --- A-ABORT (Table 9-26) ------------------------------------------------------------------
ABORT_PROVIDER = (
    b"\x07"  # PDU type: A-ABORT
    b"\x00"  # reserved
    b"\x00\x00\x00\x04"  # PDU length: 4
    b"\x00"  # reserved
    b"\x00"  # reserved
    b"\x02"  # source: 2, DICOM UL service-provider
    b"\x06"  # reason: 6, invalid-PDU-parameter value
)
ABORT_USER = (
    b"\x07"  # PDU type: A-ABORT
    b"\x00"  # reserved
    b"\x00\x00\x00\x04"  # PDU length: 4
    b"\x00"  # reserved
    b"\x00"  # reserved
    b"\x00"  # source: 0, service-user
    b"\x00"  # reason: 0 (not significant when the user aborts)
)

# --- A-RELEASE-RQ and A-RELEASE-RP (Tables 9-24, 9-25) -------------------------------------
RELEASE_RQ = (
    b"\x05"  # PDU type: A-RELEASE-RQ
    b"\x00"  # reserved
    b"\x00\x00\x00\x04"  # PDU length: 4
    b"\x00\x00\x00\x00"  # reserved
)
RELEASE_RP = (
    b"\x06"  # PDU type: A-RELEASE-RP
    b"\x00"  # reserved
    b"\x00\x00\x00\x04"  # PDU length: 4
    b"\x00\x00\x00\x00"  # reserved
)

# --- DIMSE command sets, Implicit VR Little Endian (PS3.7 Table E.1-1, 9.3.5) --------------
C_ECHO_RQ_COMMAND = (
    b"\x00\x00\x00\x00"  # tag (0000,0000) Command Group Length
    b"\x04\x00\x00\x00"  # value length: 4 (UL)
    b"\x38\x00\x00\x00"  # 56 bytes of command elements follow
    b"\x00\x00\x02\x00"  # tag (0000,0002) Affected SOP Class UID
    b"\x12\x00\x00\x00"  # value length: 18
    b"1.2.840.10008.1.1\x00"  # Verification, padded to even length with NUL
    b"\x00\x00\x00\x01"  # tag (0000,0100) Command Field
    b"\x02\x00\x00\x00"  # value length: 2 (US)
    b"\x30\x00"  # 0x0030: C-ECHO-RQ
    b"\x00\x00\x10\x01"  # tag (0000,0110) Message ID
    b"\x02\x00\x00\x00"  # value length: 2
    b"\x01\x00"  # message id 1
    b"\x00\x00\x00\x08"  # tag (0000,0800) Command Data Set Type
    b"\x02\x00\x00\x00"  # value length: 2
    b"\x01\x01"  # 0x0101: no dataset follows
)
C_ECHO_RSP_COMMAND = (
    b"\x00\x00\x00\x00"  # tag (0000,0000) Command Group Length
    b"\x04\x00\x00\x00"  # value length: 4
    b"\x42\x00\x00\x00"  # 66 bytes follow
    b"\x00\x00\x02\x00"  # tag (0000,0002) Affected SOP Class UID
    b"\x12\x00\x00\x00"  # value length: 18
    b"1.2.840.10008.1.1\x00"  # Verification
    b"\x00\x00\x00\x01"  # tag (0000,0100) Command Field
    b"\x02\x00\x00\x00"  # value length: 2
    b"\x30\x80"  # 0x8030: C-ECHO-RSP
    b"\x00\x00\x20\x01"  # tag (0000,0120) Message ID Being Responded To
    b"\x02\x00\x00\x00"  # value length: 2
    b"\x01\x00"  # answers message 1
    b"\x00\x00\x00\x08"  # tag (0000,0800) Command Data Set Type
    b"\x02\x00\x00\x00"  # value length: 2
    b"\x01\x01"  # no dataset
    b"\x00\x00\x00\x09"  # tag (0000,0900) Status
    b"\x02\x00\x00\x00"  # value length: 2
    b"\x00\x00"  # 0x0000: Success
)

# --- P-DATA-TF (Table 9-22, Annex E.2) ------------------------------------------------------
P_DATA_C_ECHO_RQ = (
    b"\x04"  # PDU type: P-DATA-TF
    b"\x00"  # reserved
    b"\x00\x00\x00\x4a"  # PDU length: 74
    b"\x00\x00\x00\x46"  # PDV item length: 70 (context id + header + 68 bytes)
    b"\x01"  # presentation context id: 1
    b"\x03"  # message control header: bit 0 command, bit 1 last fragment
) + C_ECHO_RQ_COMMAND
P_DATA_C_ECHO_RSP = (
    b"\x04"  # PDU type: P-DATA-TF
    b"\x00"  # reserved
    b"\x00\x00\x00\x54"  # PDU length: 84
    b"\x00\x00\x00\x50"  # PDV item length: 80 (context id + header + 78 bytes)
    b"\x01"  # presentation context id: 1
    b"\x03"  # command, last fragment
) + C_ECHO_RSP_COMMAND
