"""``make demo``: the lab up, a scan of it, the findings table, the lab down.

The demo also checks the scan against the lab's own ground truth (each service's expected
status, AE-title policy, access tier, device class, worklist steps, storage), so a demo that
"works" but misclassifies a server fails loudly.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.text import Text

from pacsaudit.engine.options import EngineOptions
from pacsaudit.lab.fileshare import check_finding as check_fileshare
from pacsaudit.lab.manager import lab_down, lab_up
from pacsaudit.lab.services import LabInfo
from pacsaudit.measure.keyed_hash import KeyedHasher, load_or_create_key
from pacsaudit.model import COMPROMISE_PROTOCOL, DicomResult, Finding, decode_finding
from pacsaudit.peertext import visible
from pacsaudit.plan import make_plan
from pacsaudit.probes.dicom.options import Depth, DicomOptions
from pacsaudit.probes.http.options import HttpOptions
from pacsaudit.report.build import write_report
from pacsaudit.run import execute
from pacsaudit.terminal import ProgressBar, summarise


def run_demo(state_dir: Path, output: Path, *, port_base: int, console: Console) -> bool:
    info = lab_up(state_dir, port_base=port_base, console=console)
    try:
        info.print(console)
        findings = scan_lab(info, output, console)
        ok = check_against_lab(info, findings, console)
    finally:
        lab_down(state_dir, console=console)
    for path in write_report([output], output.parent).paths:
        console.print(f"report written to {path}", markup=False, highlight=False)
    return ok


def scan_lab(info: LabInfo, output: Path, console: Console) -> list[Finding]:
    """Scan every lab port at the default depth, as a user would; return what was written."""
    tls_ports = frozenset(s.port for s in info.services if s.tls)
    hasher = KeyedHasher(load_or_create_key())
    plan = make_plan(
        targets=[info.host],
        input_files=[],
        exclude_files=[],
        ports=tuple(info.ports),
        engine=EngineOptions(concurrency=64, host_timeout=30.0),
        dicom=DicomOptions(tls_ports=tls_ports, depth=Depth.EXPOSURE, hasher=hasher),
        output=output,
        http=HttpOptions(hasher=hasher),
    )
    outcome = execute(plan, ProgressBar(console))
    summarise(outcome, console)
    console.print(f"findings written to {output}", markup=False, highlight=False)
    return [decode_finding(line) for line in output.read_bytes().splitlines() if line]


def _check_dicom(name: str, expect: dict[str, str], result: DicomResult | None) -> list[str]:
    """Device class, access tier, worklist steps and storage, where the lab expects them."""
    problems = []
    got: dict[str, str | None] = {
        "device_class": result.device_class if result else None,
        "access_tier": result.access_tier if result else None,
        "worklist_steps": str(result.worklist.scheduled_steps)
        if result and result.worklist
        else None,
        "writable": "yes" if result and result.storage and result.storage.accepted else "no",
    }
    for key, value in got.items():
        want = expect.get(key)
        if want is not None and value != want:
            problems.append(f"{name}: {key.replace('_', ' ')} {value}, expected {want}")
    return problems


def check_against_lab(info: LabInfo, findings: list[Finding], console: Console) -> bool:
    """Compare each lab service's expected classification with what the scan found."""
    mine = [f for f in findings if f.ip == info.host]
    # A share's signs of compromise are a finding of their own on the same port; the
    # service's classification is the share's finding, the compromise is checked apart.
    by_port = {f.port: f for f in mine if f.protocol != COMPROMISE_PROTOCOL}
    compromised = {f.port for f in mine if f.protocol == COMPROMISE_PROTOCOL}
    problems: list[str] = []
    for service in info.services:
        found = by_port.get(service.port)
        if found is None:
            problems.append(f"{service.name}: no finding for port {service.port}")
            continue
        want_compromise = service.expect.get("compromise") == "yes"
        if want_compromise != (service.port in compromised):
            problems.append(
                f"{service.name}: compromise finding {service.port in compromised}, "
                f"expected {want_compromise}"
            )
        want_status = service.expect.get("status")
        if want_status and found.status != want_status:
            problems.append(f"{service.name}: status {found.status}, expected {want_status}")
        result = found.result if isinstance(found.result, DicomResult) else None
        want_policy = service.expect.get("ae_policy")
        if want_policy:
            got = result.ae_policy if result else None
            if got != want_policy:
                problems.append(f"{service.name}: AE policy {got}, expected {want_policy}")
        want_class = service.expect.get("exposure_class")
        got_class = getattr(found.result, "exposure_class", None)
        if want_class and got_class != want_class:
            problems.append(f"{service.name}: class {got_class}, expected {want_class}")
        problems.extend(_check_dicom(service.name, service.expect, result))
        for what in ("patients", "studies", "images"):
            want = service.expect.get(what)
            if want is None:
                continue
            exposure = getattr(found.result, "exposure", None)
            got_n = getattr(exposure, what, None) if exposure else None
            if str(got_n) != want:
                problems.append(f"{service.name}: {got_n} {what}, expected {want}")
        problems.extend(check_fileshare(service, found))
    for p in problems:
        # a problem quotes what the scan found (share names, banners): data, not markup
        console.print(Text.assemble(("lab check failed", "red"), ": ", visible(p)))
    if not problems:
        console.print(f"[green]lab check passed[/]: {len(info.services)} services as expected")
    return not problems
