"""NAS CVEs by firmware branch (``data/nas_cves.json``), matched on the version an
unauthenticated administration page shows.

The JSON file is the research record (every entry with its sources, and what was left out);
this module keeps what matching needs. A flaw in an application installed on the NAS
(``scope: app`` — Photo Station, HBS 3) is never matched: no page shows that application's
version, so it is only named as something to check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from pacsaudit.intel.versions import (
    Firmware,
    branch_of,
    firmware_before_fix,
    parse_firmware,
    version_in_range,
)

DATA_FILE = "nas_cves.json"


@dataclass(frozen=True, slots=True)
class BranchRange:
    branch: tuple[int, ...] | None
    """QNAP's branch (``(4, 5, 2)``); None: the range covers every version (``last_affected``)."""
    fixed_in: Firmware | None
    last_affected: str | None


@dataclass(frozen=True, slots=True)
class NasCve:
    id: str
    product: str
    component: str
    scope: str
    """``firmware`` (matched by the firmware version) or ``app`` (check advice only)."""
    ransomware: tuple[str, ...]
    """Families a vendor advisory ties to it."""
    kev_ransomware_use: bool
    """CISA KEV flags known ransomware use (without naming a family)."""
    ranges: tuple[BranchRange, ...]

    def affects(self, firmware: str) -> bool:
        """The firmware version lies in a range the vendor stated; False where it cannot be
        told (a branch the advisory does not name, no build number or date to compare)."""
        if self.scope != "firmware":
            return False
        seen = parse_firmware(firmware)
        if seen is None:
            return False
        dotted = ".".join(str(n) for n in seen.numbers)
        for r in self.ranges:
            if r.branch is None:
                if r.last_affected and dotted and _up_to(dotted, r.last_affected):
                    return True
            elif r.fixed_in is not None and firmware_before_fix(seen, r.branch, r.fixed_in):
                return True
        return False


def _up_to(version: str, last_affected: str) -> bool:
    return version_in_range(
        version,
        introduced=None,
        fixed_in=None,
        last_affected=last_affected,
        affected_versions=frozenset(),
    )


def _range(e: dict[str, Any]) -> BranchRange:
    fixed = parse_firmware(e["fixed_in"]) if e.get("fixed_in") else None
    if e.get("fixed_in") and fixed is None:
        raise ValueError(f"unreadable fixed_in {e['fixed_in']!r} in {DATA_FILE}")
    return BranchRange(
        branch=branch_of(e["branch"]) if e.get("branch") else None,
        fixed_in=fixed,
        last_affected=e.get("last_affected"),
    )


def _cve(e: dict[str, Any]) -> NasCve:
    return NasCve(
        id=e["id"],
        product=e["product"],
        component=e.get("component", ""),
        scope=e["scope"],
        ransomware=tuple(e.get("ransomware") or ()),
        kev_ransomware_use=bool(e.get("kev_ransomware_use")),
        ranges=tuple(_range(r) for r in e.get("affected") or ()),
    )


@cache
def nas_cves() -> tuple[NasCve, ...]:
    raw = json.loads(resources.files("pacsaudit.data").joinpath(DATA_FILE).read_text("utf-8"))
    return tuple(_cve(e) for e in raw["cves"])


@dataclass(frozen=True, slots=True)
class NasCveMatch:
    cves: tuple[NasCve, ...]
    """Firmware flaws whose range holds the version shown (possibly affected)."""
    app_checks: tuple[NasCve, ...]
    """Flaws of applications the product can run: check those applications' versions."""


def match_nas(product: str, firmware: str | None) -> NasCveMatch:
    """The product's firmware CVEs that the version shown falls in (none without a version),
    and its application flaws to check (whatever the version: no page shows an app's)."""
    mine = [c for c in nas_cves() if c.product.lower() == product.lower()]
    return NasCveMatch(
        cves=tuple(c for c in mine if firmware and c.affects(firmware)),
        app_checks=tuple(c for c in mine if c.scope == "app"),
    )
