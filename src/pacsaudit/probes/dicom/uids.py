"""The UIDs the DICOM probe proposes and reports, with their keywords (PS3.6 Annex A).

The keywords are those of pydicom's UID dictionary (``pydicom.uid.UID(uid).keyword``), written
out here so that the association path does not import pydicom: importing it costs about a
tenth of a second, as much as a small scan. ``tests/probes/dicom/test_uids.py`` checks every entry
against pydicom's dictionary.
"""

from __future__ import annotations

VERIFICATION = "1.2.840.10008.1.1"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"

KEYWORDS: dict[str, str] = {
    VERIFICATION: "Verification",
    PATIENT_ROOT_FIND: "PatientRootQueryRetrieveInformationModelFind",
    STUDY_ROOT_FIND: "StudyRootQueryRetrieveInformationModelFind",
    PATIENT_ROOT_MOVE: "PatientRootQueryRetrieveInformationModelMove",
    STUDY_ROOT_MOVE: "StudyRootQueryRetrieveInformationModelMove",
    PATIENT_ROOT_GET: "PatientRootQueryRetrieveInformationModelGet",
    STUDY_ROOT_GET: "StudyRootQueryRetrieveInformationModelGet",
    IMPLICIT_VR_LITTLE_ENDIAN: "ImplicitVRLittleEndian",
    EXPLICIT_VR_LITTLE_ENDIAN: "ExplicitVRLittleEndian",
}
"""UID → keyword, for every UID above."""
