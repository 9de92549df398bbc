"""The file-share probes (FTP, SMB, rsync) and the bounded walk they share (``walk.py``)."""

from pacsaudit.probes.fileshare.options import FTP_PORTS, RSYNC_PORTS, SMB_PORTS
from pacsaudit.probes.spec import FirstAnswer, ProbeSpec

FTP = ProbeSpec(
    key="ftp",
    implementation="pacsaudit.probes.fileshare.ftp:FtpProbe",
    options="fileshare",
    description=(
        "FTP: anonymous login, bounded walk, DICOM files by magic, header samples, indicators"
    ),
    ports=FTP_PORTS,
    banner_prefixes=("220 ", "220-"),
)
SMB = ProbeSpec(
    key="smb",
    implementation="pacsaudit.probes.fileshare.smb:SmbProbe",
    options="fileshare",
    description=(
        "SMB: null/guest session, share list, bounded walk, DICOM by magic, header samples"
    ),
    ports=SMB_PORTS,
    # SMB goes first after a silent close: a TLS server drops an SMB negotiation at once, while
    # smbd sits on a ClientHello until the handshake times out (twice 5 s for the TLS probes).
    follows=((FirstAnswer.SILENT_CLOSE, 1),),
    dials_itself=True,
)
RSYNC = ProbeSpec(
    key="rsync",
    implementation="pacsaudit.probes.fileshare.rsync:RsyncProbe",
    options="fileshare",
    description="rsync daemon: module list, bounded listings, DICOM files by name and size",
    ports=RSYNC_PORTS,
    banner_prefixes=("@RSYNCD:",),
)
SPECS = (FTP, SMB, RSYNC)
