"""The lab's file shares: one synthetic tree served anonymously over FTP, SMB and rsync.

The tree is what a neglected imaging NAS looks like, with every kind of bad input the probes
must survive: a small synthetic corpus (its own canaries) in folders named after the patients,
a DICOMDIR file-set (written with pydicom's ``FileSet``), a harmless ransom note and miner
configuration for the indicator list, a world-writable upload folder, a text file named
``.dcm``, a truncated DICOM file, a chain of folders deeper than ``--max-depth`` and a symbolic
link loop. The servers are the ones users meet:

- pyftpdlib, anonymous read-only (LAB-NOTES command line) on 127.0.0.1;
- Samba's ``smbd`` started by hand from a generated ``smb.conf`` (loopback only, a guest share
  and a share guests may not open);
- an rsync daemon with an anonymous module and one that wants a password.

The ground truth a scan with default bounds must report is computed here from the files
themselves (:func:`expected_counts`), independently of the probes' code.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.fileset import FileSet

from pacsaudit.lab import web as web_lab
from pacsaudit.lab.services import LAB_HOST, LabInfo, LabService, start_service
from pacsaudit.lab.synth import CorpusSpec, Manifest, generate_corpus
from pacsaudit.lab.table import (
    PRIVATE_SHARE,
    RSYNC_LOCKED_MODULE,
    RSYNC_MODULE,
    SHARE,
    lab_service,
)
from pacsaudit.model import FileShareResult, Finding, HttpResult
from pacsaudit.probes.fileshare.options import WalkOptions
from pacsaudit.probes.fileshare.walk import looks_like_dicom_name

SERVICE_NAMES = ("ftp", "smb", "rsync")
SPEC = CorpusSpec(
    patients=4, studies=6, max_series_per_study=2, max_instances_per_series=3, seed=20261127
)
"""A small corpus of its own (seed differs from the DICOM servers'), so the shares' counts are
exact and their canaries are new."""
DEEP_LEVELS = 12
MEDIA_PATIENTS = 2


@dataclass(frozen=True, slots=True)
class ShareTree:
    root: Path
    manifest: Manifest
    dicomdir: dict[str, int]


def build_tree(root: Path) -> ShareTree:
    """Write the shared tree under ``root``; return what it holds."""
    corpus_dir = root.parent / "share-corpus"
    manifest = generate_corpus(corpus_dir, SPEC)
    studies = root / "studies"
    studies.mkdir(parents=True)
    # Folders named after the patients, as found on real shares: names must never leak.
    for patient_dir in sorted(corpus_dir.iterdir()):
        first = next(patient_dir.rglob("*.dcm"))
        family = str(dcmread(first, stop_before_pixels=True).PatientName).split("^")[0]
        shutil.copytree(patient_dir, studies / f"{family}_{patient_dir.name}")
    dicomdir = _media(root / "media", corpus_dir)
    incoming = root / "incoming"
    incoming.mkdir()
    (incoming / "README_FOR_DECRYPT.txt").write_text(
        "pacsaudit lab: a harmless stand-in for a ransom note (indicator test).\n", "utf-8"
    )
    incoming.chmod(0o777)
    tools = root / "tools"
    tools.mkdir()
    (tools / "config.json").write_text(
        json.dumps({"pools": [{"url": "stratum+tcp://pool.invalid:3333", "user": "lab"}]}),
        "utf-8",
    )
    misc = root / "misc"
    misc.mkdir()
    (misc / "not-really.dcm").write_text("this text file only pretends to be DICOM\n" * 8)
    first_file = manifest.files[0].read_bytes()
    (misc / "truncated.dcm").write_bytes(first_file[:700])
    (misc / "loop").symlink_to(".")
    deep = root / "deep"
    for level in range(1, DEEP_LEVELS + 1):
        deep = deep / f"d{level:02d}"
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("below --max-depth\n", "utf-8")
    shutil.rmtree(corpus_dir)
    return ShareTree(root, manifest, dicomdir)


def _media(folder: Path, corpus_dir: Path) -> dict[str, int]:
    """A DICOMDIR file-set of the first patients' instances; returns its record counts."""
    fs = FileSet()
    counts: Counter[str] = Counter()
    seen: dict[str, set[str]] = {"patients": set(), "studies": set(), "series": set()}
    for patient_dir in sorted(corpus_dir.iterdir())[:MEDIA_PATIENTS]:
        for path in sorted(patient_dir.rglob("*.dcm")):
            ds = dcmread(path)
            fs.add(ds)
            seen["patients"].add(str(ds.PatientID))
            seen["studies"].add(str(ds.StudyInstanceUID))
            seen["series"].add(str(ds.SeriesInstanceUID))
            counts["images"] += 1
    folder.mkdir(parents=True)
    fs.write(folder)
    return {
        "patients": len(seen["patients"]),
        "studies": len(seen["studies"]),
        "series": len(seen["series"]),
        "images": counts["images"],
    }


def expected_counts(root: Path, options: WalkOptions | None = None) -> dict[str, int]:
    """What a walk of ``root`` with ``options``' depth bound must count, from the files
    themselves: regular files, DICOM files by magic and by name (rsync's rule)."""
    options = options or WalkOptions()
    files = dicom_magic = dicom_named = 0
    for folder, dirs, names in os.walk(root, followlinks=False):
        rel = Path(folder).relative_to(root)
        depth = 0 if rel == Path(".") else len(rel.parts)
        if depth >= options.max_depth:
            dirs[:] = []  # its subfolders are beyond the bound (they are listed, not entered)
        for name in names:
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            files += 1
            size = path.stat().st_size
            with open(path, "rb") as fh:
                head = fh.read(132)
            if head[128:132] == b"DICM":
                dicom_magic += 1
            if looks_like_dicom_name(name) and size > 132:
                dicom_named += 1
    return {"files": files, "dicom_files": dicom_magic, "dicom_files_by_name": dicom_named}


# -- the servers --------------------------------------------------------------------------


def start(info: LabInfo, ports: dict[str, int]) -> None:
    """Build the tree and start FTP, SMB and rsync on it (called from ``lab_up``)."""

    base = info.state_dir / "shares"
    tree = build_tree(base / "tree")
    truth = expected_counts(tree.root)
    canaries = info.corpus.get("canaries")
    if isinstance(canaries, list):
        canaries.extend(sorted(tree.manifest.canaries))
    info.corpus["fileshare"] = {
        **tree.manifest.to_json(),
        "dicomdir": tree.dicomdir,
        "expected": truth,
    }
    magic = {
        "files": str(truth["files"]),
        "dicom_files": str(truth["dicom_files"]),
        "exposure_class": "phi-readable",
        "compromise": "yes",
    }
    ftp = lab_service("ftp", ports, {"status": "ftp", **magic})
    info.services.append(ftp)
    argv = [sys.executable, "-m", "pyftpdlib", "-i", LAB_HOST, "-p", str(ports["ftp"])]
    start_service(info, ftp, [*argv, "-d", str(tree.root)], base)

    smb = lab_service("smb", ports, {"status": "smb", **magic})
    info.services.append(smb)
    conf = smb_conf(base / "samba", ports["smb"], tree.root)
    start_service(
        info,
        smb,
        [
            "smbd",
            "--foreground",
            "--no-process-group",
            f"--configfile={conf}",
            "--debug-stdout",
        ],
        base,
    )

    expect = {
        "status": "rsync",
        "files": str(truth["files"]),
        "dicom_files": str(truth["dicom_files_by_name"]),
        "exposure_class": "retrievable",
        "compromise": "yes",
    }
    web_lab.start(info, ports, tree.root, truth)  # nginx: autoindex and WebDAV, same tree

    rsync = lab_service("rsync", ports, expect)
    info.services.append(rsync)
    rconf = _rsyncd_conf(base / "rsyncd", tree.root)
    start_service(
        info,
        rsync,
        [
            "rsync",
            "--daemon",
            "--no-detach",
            f"--config={rconf}",
            f"--port={ports['rsync']}",
            f"--address={LAB_HOST}",
        ],
        base,
    )


def smb_conf(folder: Path, port: int, tree: Path, *, smb1_only: bool = False) -> Path:
    """Samba on loopback only, every state folder in the lab (LAB-NOTES has why each line).

    ``smb1_only``: the dialect of the old NAS boxes in the published surveys (NT1, no SMB2),
    for the test that the probe still reads them.
    """
    dirs = {
        key: folder / key
        for key in ("state", "lock", "cache", "private", "pid", "ncalrpc", "private-share")
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    conf = folder / "smb.conf"
    conf.write_text(
        f"""[global]
  interfaces = 127.0.0.1/8
  bind interfaces only = yes
  smb ports = {port}
  disable netbios = yes
  server role = standalone server
  map to guest = Bad User
  {"server min protocol = NT1" if smb1_only else "server min protocol = SMB2"}
  {"server max protocol = NT1" if smb1_only else ""}
  state directory = {dirs["state"]}
  lock directory = {dirs["lock"]}
  cache directory = {dirs["cache"]}
  private dir = {dirs["private"]}
  pid directory = {dirs["pid"]}
  ncalrpc dir = {dirs["ncalrpc"]}
  log file = {folder / "log.%m"}
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes

[{SHARE}]
  path = {tree}
  guest ok = yes
  read only = yes
  browseable = yes
  # The lab's folders sit under private temporary folders; guests read them as root.
  force user = root

[{PRIVATE_SHARE}]
  path = {dirs["private-share"]}
  guest ok = no
  read only = yes
  valid users = nobody-in-particular
""",
        encoding="utf-8",
    )
    return conf


def _rsyncd_conf(folder: Path, tree: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    secrets = folder / "secrets"
    secrets.write_text(f"labuser:{os.urandom(12).hex()}\n", "utf-8")
    secrets.chmod(0o600)
    conf = folder / "rsyncd.conf"
    conf.write_text(
        f"""pid file = {folder / "rsyncd.pid"}
log file = {folder / "rsyncd.log"}
use chroot = no
uid = root
gid = root

[{RSYNC_MODULE}]
  path = {tree}
  comment = imaging archive
  read only = yes
  list = yes

[{RSYNC_LOCKED_MODULE}]
  path = {tree}
  comment = nightly backup
  read only = yes
  list = yes
  auth users = labuser
  secrets file = {secrets}
""",
        encoding="utf-8",
    )
    return conf


def check_finding(service: LabService, found: Finding) -> list[str]:
    """``lab demo``'s check of a file-share finding (FTP, SMB, rsync, a web listing) against
    the lab's ground truth."""
    if service.name in web_lab.SERVICE_NAMES:
        listing = found.result.listing if isinstance(found.result, HttpResult) else None
        if listing is None:
            return [f"{service.name}: no web listing walked"]
        return _check_counts(service, listing)
    if service.protocol not in SERVICE_NAMES:
        return []
    result = found.result
    if not isinstance(result, FileShareResult):
        return [f"{service.name}: no file-share result"]
    return _check_counts(service, result)


def _check_counts(service: LabService, result: FileShareResult) -> list[str]:
    problems = []
    for what in ("files", "dicom_files"):
        want = service.expect.get(what)
        got = getattr(result, what)
        if want is not None and str(got) != want:
            problems.append(f"{service.name}: {got} {what.replace('_', ' ')}, expected {want}")
    want_class = service.expect.get("exposure_class")
    if want_class and result.exposure_class != want_class:
        problems.append(f"{service.name}: class {result.exposure_class}, expected {want_class}")
    return problems
