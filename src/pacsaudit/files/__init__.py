"""Files on disk and shares, shared by ``inspect`` and ``deid``: finding DICOM files by
content and reading them safely (:mod:`.read`), walking trees without following links
(:mod:`.read`), fanning work over processes (:mod:`.pool`), and writing records and progress
(:mod:`.output`). Neither command imports the other; both import this."""
