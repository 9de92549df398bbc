"""The HTTP(S) probe: Orthanc REST, DICOMweb, imaging web applications (``probe.py``)."""
