"""A real Orthanc without its DICOMweb plugin: studies counted from its REST listing, images
from ``/statistics`` (the listing names no instance count; the server's own tally does).

Orthanc has no bind-address option (LAB-NOTES): like the lab's, this one listens on every
address of free ports and is stopped at the end of the test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from loopback import free_port
from pacsaudit.lab.manager import _load_orthanc, _orthanc_config, _wait_http
from pacsaudit.lab.synth import CorpusSpec, generate_corpus
from pacsaudit.measure.classify import classify
from pacsaudit.model import ExposureClass, HttpResult
from pacsaudit.probes.http.probe import HttpProbe
from pacsaudit.targets.spec import Target
from web_servers import running

pytestmark = pytest.mark.lab


def test_orthanc_without_dicomweb_takes_its_image_count_from_statistics(tmp_path: Path) -> None:
    manifest = generate_corpus(tmp_path / "corpus", CorpusSpec(patients=3, studies=4, seed=9))
    http_port = free_port()
    cfg = _orthanc_config(tmp_path / "orthanc", free_port(), http_port)
    with running(["Orthanc", str(cfg)], http_port, tmp_path / "orthanc.log"):
        _wait_http(http_port, "/system")
        _load_orthanc(http_port, manifest)
        finding = classify(asyncio.run(HttpProbe().scan(Target("127.0.0.1", http_port))))
    result = finding.result
    assert isinstance(result, HttpResult)
    assert result.orthanc is not None
    assert "dicom-web" not in result.orthanc.plugins
    assert not [d for d in result.dicomweb if d.answered]
    e = result.exposure
    assert e is not None
    assert e.queries[0].model == "orthanc-rest"
    assert (e.patients, e.studies, e.images) == (
        manifest.patients,
        manifest.studies,
        manifest.instances,
    )
    assert e.images_source == "orthanc-statistics"
    assert result.exposure_class is ExposureClass.PHI_READABLE
