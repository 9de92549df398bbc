"""The acceptance-only services against a real SCP: a pynetdicom AE serving MPPS, Storage
Commitment Push Model, UPS (all four SOP classes) and CT storage on loopback. The storage
check must record each as accepted, and send nothing on them: the SCP's handlers for N-CREATE,
N-SET, N-ACTION, N-GET, N-EVENT-REPORT and C-STORE count every call, and every DIMSE message
the SCP receives is recorded by type (``EVT_DIMSE_RECV``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from pacsaudit.probes.dicom import uids
from store_servers import pynetdicom_scp, scan

pytestmark = pytest.mark.lab

WORKFLOW = (
    uids.MPPS,
    uids.STORAGE_COMMITMENT_PUSH,
    uids.UPS_PUSH,
    uids.UPS_WATCH,
    uids.UPS_PULL,
    uids.UPS_EVENT,
)


def counting() -> tuple[Counter[str], list[tuple[Any, Any]]]:
    from pynetdicom import evt

    calls: Counter[str] = Counter()

    def intervention(name: str, answer: object) -> Any:
        def handler(event: Any) -> object:
            calls[name] += 1
            return answer

        return handler

    def received(event: Any) -> None:
        calls[f"received {type(event.message).__name__}"] += 1

    refused = (0x0110, None)  # processing failure, if ever called
    handlers = [
        (evt.EVT_N_CREATE, intervention("N-CREATE", refused)),
        (evt.EVT_N_SET, intervention("N-SET", refused)),
        (evt.EVT_N_ACTION, intervention("N-ACTION", refused)),
        (evt.EVT_N_GET, intervention("N-GET", refused)),
        (evt.EVT_N_EVENT_REPORT, intervention("N-EVENT-REPORT", refused)),
        (evt.EVT_C_STORE, intervention("C-STORE", 0x0110)),
        (evt.EVT_DIMSE_RECV, received),
    ]
    return calls, handlers


def test_workflow_services_are_recorded_as_accepted_and_never_used() -> None:
    calls, handlers = counting()
    with pynetdicom_scp(
        (uids.VERIFICATION, uids.CT_IMAGE_STORAGE, *WORKFLOW), handlers=handlers
    ) as port:
        r = scan(port)
    assert r.storage is not None
    assert r.storage.services_accepted == [uids.KEYWORDS[u] for u in WORKFLOW]
    assert r.storage.accepted == ["CTImageStorage"]
    assert r.storage.unanswered == []
    for name in ("N-CREATE", "N-SET", "N-ACTION", "N-GET", "N-EVENT-REPORT", "C-STORE"):
        assert calls[name] == 0, name
    # the only DIMSE messages the SCP saw are the probe's C-ECHO on Verification
    assert set(calls) <= {"received C_ECHO_RQ"}, calls


def test_the_counters_count_what_a_real_scu_sends() -> None:
    """The control: the same SCP counts an N-CREATE a pynetdicom SCU sends it on MPPS."""
    from pydicom.dataset import Dataset
    from pynetdicom import AE

    calls, handlers = counting()
    with pynetdicom_scp((uids.VERIFICATION, uids.MPPS), handlers=handlers) as port:
        scu = AE(ae_title="CONTROL")
        scu.add_requested_context(uids.MPPS)
        assoc = scu.associate("127.0.0.1", port, ae_title="LABSCP")
        assert assoc.is_established
        step = Dataset()  # synthetic: one attribute (an empty data set is never answered)
        step.PerformedProcedureStepStatus = "IN PROGRESS"
        status, _ = assoc.send_n_create(step, uids.MPPS, "1.2.826.0.1.3680043.8.498.1")
        assoc.release()
    assert status.Status == 0x0110  # the handler's refusal came back
    assert calls["N-CREATE"] == 1
    assert calls["received N_CREATE_RQ"] == 1
