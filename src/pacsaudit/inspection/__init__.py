"""``pacsaudit inspect``: identifying data counted in DICOM files and mounted shares."""
