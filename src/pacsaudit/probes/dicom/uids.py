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
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_PRESENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"
DX_PROCESSING_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1.1"
MG_PRESENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.1.2"
BREAST_TOMOSYNTHESIS_STORAGE = "1.2.840.10008.5.1.4.1.1.13.1.3"
US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"
NM_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.20"
PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
XA_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.12.1"
RF_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.12.2"
SC_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
VL_PHOTOGRAPHIC_STORAGE = "1.2.840.10008.5.1.4.1.1.77.1.4"
BASIC_TEXT_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.11"
ENHANCED_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.22"
COMPREHENSIVE_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.33"
KEY_OBJECT_SELECTION_STORAGE = "1.2.840.10008.5.1.4.1.1.88.59"
GRAYSCALE_PRESENTATION_STATE_STORAGE = "1.2.840.10008.5.1.4.1.1.11.1"
SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
RT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.1"
RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"
ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
TWELVE_LEAD_ECG_STORAGE = "1.2.840.10008.5.1.4.1.1.9.1.1"
MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31"
MPPS = "1.2.840.10008.3.1.2.3.3"
STORAGE_COMMITMENT_PUSH = "1.2.840.10008.1.20.1"
BASIC_GRAYSCALE_PRINT_META = "1.2.840.10008.5.1.1.9"
UPS_PUSH = "1.2.840.10008.5.1.4.34.6.1"
UPS_WATCH = "1.2.840.10008.5.1.4.34.6.2"
UPS_PULL = "1.2.840.10008.5.1.4.34.6.3"
UPS_EVENT = "1.2.840.10008.5.1.4.34.6.4"
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
    CT_IMAGE_STORAGE: "CTImageStorage",
    ENHANCED_CT_IMAGE_STORAGE: "EnhancedCTImageStorage",
    MR_IMAGE_STORAGE: "MRImageStorage",
    ENHANCED_MR_IMAGE_STORAGE: "EnhancedMRImageStorage",
    CR_IMAGE_STORAGE: "ComputedRadiographyImageStorage",
    DX_PRESENTATION_STORAGE: "DigitalXRayImageStorageForPresentation",
    DX_PROCESSING_STORAGE: "DigitalXRayImageStorageForProcessing",
    MG_PRESENTATION_STORAGE: "DigitalMammographyXRayImageStorageForPresentation",
    BREAST_TOMOSYNTHESIS_STORAGE: "BreastTomosynthesisImageStorage",
    US_IMAGE_STORAGE: "UltrasoundImageStorage",
    US_MULTIFRAME_STORAGE: "UltrasoundMultiFrameImageStorage",
    NM_IMAGE_STORAGE: "NuclearMedicineImageStorage",
    PET_IMAGE_STORAGE: "PositronEmissionTomographyImageStorage",
    XA_IMAGE_STORAGE: "XRayAngiographicImageStorage",
    RF_IMAGE_STORAGE: "XRayRadiofluoroscopicImageStorage",
    SC_IMAGE_STORAGE: "SecondaryCaptureImageStorage",
    VL_PHOTOGRAPHIC_STORAGE: "VLPhotographicImageStorage",
    BASIC_TEXT_SR_STORAGE: "BasicTextSRStorage",
    ENHANCED_SR_STORAGE: "EnhancedSRStorage",
    COMPREHENSIVE_SR_STORAGE: "ComprehensiveSRStorage",
    KEY_OBJECT_SELECTION_STORAGE: "KeyObjectSelectionDocumentStorage",
    GRAYSCALE_PRESENTATION_STATE_STORAGE: "GrayscaleSoftcopyPresentationStateStorage",
    SEGMENTATION_STORAGE: "SegmentationStorage",
    RT_IMAGE_STORAGE: "RTImageStorage",
    RT_DOSE_STORAGE: "RTDoseStorage",
    RT_STRUCTURE_SET_STORAGE: "RTStructureSetStorage",
    RT_PLAN_STORAGE: "RTPlanStorage",
    ENCAPSULATED_PDF_STORAGE: "EncapsulatedPDFStorage",
    TWELVE_LEAD_ECG_STORAGE: "TwelveLeadECGWaveformStorage",
    MODALITY_WORKLIST_FIND: "ModalityWorklistInformationModelFind",
    MPPS: "ModalityPerformedProcedureStep",
    STORAGE_COMMITMENT_PUSH: "StorageCommitmentPushModel",
    BASIC_GRAYSCALE_PRINT_META: "BasicGrayscalePrintManagementMeta",
    UPS_PUSH: "UnifiedProcedureStepPush",
    UPS_WATCH: "UnifiedProcedureStepWatch",
    UPS_PULL: "UnifiedProcedureStepPull",
    UPS_EVENT: "UnifiedProcedureStepEvent",
    IMPLICIT_VR_LITTLE_ENDIAN: "ImplicitVRLittleEndian",
    EXPLICIT_VR_LITTLE_ENDIAN: "ExplicitVRLittleEndian",
}
"""UID → keyword, for every UID above."""

STORAGE_CLASSES: tuple[str, ...] = (
    CT_IMAGE_STORAGE,
    ENHANCED_CT_IMAGE_STORAGE,
    MR_IMAGE_STORAGE,
    ENHANCED_MR_IMAGE_STORAGE,
    CR_IMAGE_STORAGE,
    DX_PRESENTATION_STORAGE,
    DX_PROCESSING_STORAGE,
    MG_PRESENTATION_STORAGE,
    BREAST_TOMOSYNTHESIS_STORAGE,
    US_IMAGE_STORAGE,
    US_MULTIFRAME_STORAGE,
    NM_IMAGE_STORAGE,
    PET_IMAGE_STORAGE,
    XA_IMAGE_STORAGE,
    RF_IMAGE_STORAGE,
    SC_IMAGE_STORAGE,
    VL_PHOTOGRAPHIC_STORAGE,
    BASIC_TEXT_SR_STORAGE,
    ENHANCED_SR_STORAGE,
    COMPREHENSIVE_SR_STORAGE,
    KEY_OBJECT_SELECTION_STORAGE,
    GRAYSCALE_PRESENTATION_STATE_STORAGE,
    SEGMENTATION_STORAGE,
    RT_IMAGE_STORAGE,
    RT_DOSE_STORAGE,
    RT_STRUCTURE_SET_STORAGE,
    RT_PLAN_STORAGE,
    ENCAPSULATED_PDF_STORAGE,
    TWELVE_LEAD_ECG_STORAGE,
)
"""The Storage SOP classes whose acceptance the probe asks for (PS3.4 Annex B): the images,
reports, radiotherapy objects and documents an archive commonly takes from modalities."""
ACCEPTANCE_ONLY_SERVICES: tuple[str, ...] = (
    MPPS,
    STORAGE_COMMITMENT_PUSH,
    BASIC_GRAYSCALE_PRINT_META,
    UPS_PUSH,
    UPS_WATCH,
    UPS_PULL,
    UPS_EVENT,
)
"""Workflow services whose acceptance is recorded, never used (no DIMSE is sent on them):
MPPS, Storage Commitment, Basic Grayscale Print, UPS."""
