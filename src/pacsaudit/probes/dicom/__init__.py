"""The DICOM Upper Layer probe (PS3.8): association, AE-title policy, C-ECHO, exposure,
storage acceptance, Modality Worklist counts, TLS.

Its specs are all the catalogue imports before a DICOM target is met; ``probe.py`` holds the
classes.
"""

from pacsaudit.probes.dicom.options import DICOM_PORTS
from pacsaudit.probes.spec import FirstAnswer, ProbeSpec

DICOM = ProbeSpec(
    key="dicom",
    implementation="pacsaudit.probes.dicom.probe:DicomProbe",
    options="dicom",
    description="DICOM Upper Layer: association, AE-title policy, C-ECHO, TLS",
    ports=DICOM_PORTS,
    identifies=True,
)
DICOM_TLS = ProbeSpec(
    key="dicom-tls",
    implementation="pacsaudit.probes.dicom.probe:DicomTlsProbe",
    options="dicom",
    description="DICOM inside TLS on any port (for ports identified as TLS)",
    follows=((FirstAnswer.TLS_ALERT, 1), (FirstAnswer.SILENT_CLOSE, 2)),
    tls=True,
)
SPECS = (DICOM, DICOM_TLS)
