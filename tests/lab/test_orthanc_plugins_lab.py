"""Orthanc's image-serving plugins, as Debian ships them, recognised as applications.

A real Orthanc 1.10 from Debian's own ``/etc/orthanc/orthanc.json`` (only ports, storage
folders and plugins changed) with the ``orthanc-webviewer`` (2.8) and ``orthanc-wsi`` (1.1)
plugins from ``/usr/share/orthanc/plugins/``, on free loopback ports. The probe must name both
viewers from their own pages, list them among ``/plugins``, and leave the storage folder as
empty as it found it (GET only: nothing is ever written to the server).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pacsaudit.engine.options import new_event_loop_factory
from pacsaudit.lab.services import LabInfo, LabService, start_service
from pacsaudit.measure.classify import classify
from pacsaudit.model import ExposureClass, HttpResult, Status
from pacsaudit.probes.http.probe import HttpOptions, HttpProbe
from pacsaudit.targets.spec import Target
from store_servers import DEBIAN_ORTHANC, debian_orthanc_config, files_under, free_port

PLUGINS = Path("/usr/share/orthanc/plugins")
WEB_VIEWER = PLUGINS / "libOrthancWebViewer.so"
WSI = PLUGINS / "libOrthancWSI.so"


@contextlib.contextmanager
def orthanc_with_plugins(root: Path) -> Iterator[tuple[int, Path]]:
    """Orthanc with both viewer plugins; yields its HTTP port and its storage folder."""
    storage, cache = root / "storage", root / "webviewer-cache"
    storage.mkdir(parents=True)
    cache.mkdir()
    http_port = free_port()
    text = debian_orthanc_config(
        DEBIAN_ORTHANC.read_text(encoding="utf-8"),
        StorageDirectory=str(storage),
        IndexDirectory=str(root / "index"),
        DicomPort=free_port(),
        HttpPort=http_port,
        Plugins=[str(WEB_VIEWER), str(WSI)],
    )
    # The Web Viewer caches decoded images under the storage folder unless told otherwise:
    # elsewhere, so that an empty storage folder proves nothing was stored.
    text = text.rstrip().removesuffix("}") + (
        f',\n  "WebViewer": {{"CachePath": {json.dumps(str(cache))}}}\n}}\n'
    )
    config = root / "orthanc.json"
    config.write_text(text, encoding="utf-8")
    info = LabInfo(state_dir=root)
    service = LabService("orthanc", "Orthanc", "http", http_port, "orthanc")
    proc = start_service(info, service, ["Orthanc", str(config)], root)
    try:
        yield http_port, storage
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.mark.lab
@pytest.mark.skipif(
    not (WEB_VIEWER.exists() and WSI.exists()),
    reason="needs Debian's orthanc-webviewer and orthanc-wsi (make system-deps)",
)
def test_web_viewer_and_wsi_plugins_are_applications(tmp_path: Path) -> None:
    with orthanc_with_plugins(tmp_path / "orthanc") as (port, storage):
        opts = HttpOptions(credential_interval=0.0)
        with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
            finding = classify(runner.run(HttpProbe(opts).scan(Target("127.0.0.1", port))))
        assert files_under(storage) == []
    assert finding.status is Status.HTTP
    r = finding.result
    assert isinstance(r, HttpResult)
    apps = {a.product: (a.category, a.path, a.evidence, a.protected) for a in r.apps}
    assert apps["Orthanc Web Viewer"] == ("viewer", "/web-viewer/app/viewer.html", "title", False)
    assert apps["Orthanc WSI viewer"] == ("viewer", "/wsi/app/viewer.html", "title", False)
    assert apps["Orthanc"][2] == "api"
    assert r.orthanc is not None
    assert {"web-viewer", "wsi"} <= set(r.orthanc.plugins)
    assert r.ae_titles == []
    assert {e.path for e in r.exchanges} >= {"/web-viewer/app/viewer.html", "/wsi/app/viewer.html"}
    assert r.exposure_class is ExposureClass.ANONYMOUS_ACCESS  # an empty Orthanc, open
