"""What is known about DICOM products, as data with sources: toolkits behind implementation
identifiers, CVEs by version, honeypots, public demo data (``data/dicom_fingerprints.json``)."""
