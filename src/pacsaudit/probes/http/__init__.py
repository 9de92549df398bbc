"""The HTTP(S) probe: Orthanc REST, DICOMweb, imaging web applications (``probe.py``)."""

from pacsaudit.probes.http.options import HTTP_PORTS
from pacsaudit.probes.spec import FirstAnswer, ProbeSpec

HTTP = ProbeSpec(
    key="http",
    implementation="pacsaudit.probes.http.probe:HttpProbe",
    options="http",
    description=(
        "HTTP(S): Orthanc REST, DICOMweb QIDO-RS/WADO-URI, imaging web viewers, authentication"
    ),
    ports=HTTP_PORTS,
    banner_prefixes=("HTTP/",),
)
HTTPS = ProbeSpec(
    key="https",
    implementation="pacsaudit.probes.http.probe:HttpsProbe",
    options="http",
    description="HTTPS on any port (for ports identified as TLS)",
    banner_prefixes=("HTTP/",),
    follows=((FirstAnswer.TLS_ALERT, 2), (FirstAnswer.SILENT_CLOSE, 3)),
    tls=True,
)
SPECS = (HTTP, HTTPS)
