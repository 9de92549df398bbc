"""--guess-ae against the locked Orthanc: a called title behind a calling-AE whitelist."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pacsaudit.engine.options import new_event_loop_factory
from pacsaudit.lab.manager import LabInfo
from pacsaudit.measure.keyed_hash import KeyedHasher
from pacsaudit.model import AePolicy, AssociationOutcome, DicomResult, Finding
from pacsaudit.probes.dicom.ae_guess import AeGuessOptions, read_ae_list, shipped_lists
from pacsaudit.probes.dicom.probe import Depth, DicomOptions, DicomProbe
from pacsaudit.targets.spec import Target
from pacsaudit.usage import UsageError


def scan_locked(lab: LabInfo, guess: AeGuessOptions, depth: Depth = Depth.DISCOVER) -> DicomResult:
    port = lab.service("orthanc-locked").port
    options = DicomOptions(
        tls_ports=frozenset(),
        guess=guess,
        depth=depth,
        hasher=KeyedHasher(b"k" * 32),
        budget=60.0,
    )
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        f: Finding = runner.run(DicomProbe(options).scan(Target(lab.host, port)))
    assert isinstance(f.result, DicomResult)
    return f.result


def shipped(**kw: object) -> AeGuessOptions:
    called, calling = shipped_lists()
    return AeGuessOptions(enabled=True, called=called, calling=calling, interval=0.01, **kw)  # type: ignore[arg-type]


@pytest.mark.lab
def test_without_guessing_the_locked_server_looks_enforced(lab: LabInfo) -> None:
    r = scan_locked(lab, AeGuessOptions())
    assert r.ae_policy is AePolicy.CALLED_AE_ENFORCED
    assert len(r.attempts) == 2


@pytest.mark.lab
def test_guess_finds_called_ae_then_calling_ae(lab: LabInfo) -> None:
    r = scan_locked(lab, shipped(), depth=Depth.EXPOSURE)
    assert r.ae_policy is AePolicy.GUESSABLE
    assert (r.accepted_called_ae, r.accepted_calling_ae) == ("ORTHANC", "STORESCU")
    # The rejection reason told the called title apart: reason 3 on ORTHANC.
    found = [a for a in r.attempts if a.reject and a.reject.reason_code == 3]
    assert [a.called_ae for a in found] == ["ORTHANC"]
    assert r.attempts[-1].outcome is AssociationOutcome.ACCEPTED
    assert r.exposure is not None
    assert (r.exposure.patients, r.exposure.studies, r.exposure.images) == (25, 60, 295)


@pytest.mark.lab
def test_guesses_are_bounded(lab: LabInfo, tmp_path: Path) -> None:
    ae_list = tmp_path / "titles.txt"
    ae_list.write_text("# called\nPACS\nARCHIVE\nSERVER\nORTHANC\ncalling:\nSTORESCU\n")
    called, calling = read_ae_list(ae_list)
    assert called == ("PACS", "ARCHIVE", "SERVER", "ORTHANC")
    r = scan_locked(
        lab,
        AeGuessOptions(enabled=True, called=called, calling=calling, max_guesses=3, interval=0),
    )
    assert r.ae_policy is AePolicy.CALLED_AE_ENFORCED
    assert [a.called_ae for a in r.attempts[2:]] == ["PACS", "ARCHIVE", "SERVER"]


def test_bad_ae_list_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "titles.txt"
    bad.write_text("GOOD\nTHIS TITLE IS FAR TOO LONG\n")
    with pytest.raises(UsageError, match=r"titles\.txt:2"):
        read_ae_list(bad)
