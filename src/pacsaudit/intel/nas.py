"""NAS CVEs by firmware branch (``data/nas_cves.json``), matched on the version an
unauthenticated administration page shows.

Each vendor numbers its firmware its own way, so each entry names its ``version_scheme``:
``qnap`` (``5.0.1.2145 build 20220903``: fixed per branch, told apart by build date, then
number), ``synology`` (``7.2.1-69057-6``: release, build, update), ``dotted`` (numbers compared
as numbers: TerraMaster TOS, WD My Cloud, ReadyNAS RAIDiator) and ``exact`` (only the versions
the record names: ASUSTOR's ``3.1.0.RFQ3``, whose build codes have no order we could verify).

The JSON file is the research record (every entry with its sources, and what was left out);
this module keeps what matching needs. A flaw in an application installed on the NAS
(``scope: app`` — Photo Station, HBS 3) is never matched: no page shows that application's
version, so it is only named as something to check.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from pacsaudit.intel.versions import (
    Firmware,
    branch_of,
    dsm_in_range,
    firmware_before_fix,
    parse_dsm,
    parse_firmware,
    version_in_range,
)

DATA_FILE = "nas_cves.json"
SCHEMES = ("qnap", "synology", "dotted", "exact")


@dataclass(frozen=True, slots=True)
class BranchRange:
    branch: tuple[int, ...] | None
    """QNAP's branch (``(4, 5, 2)``); None: the range covers every version (``last_affected``)."""
    fixed_in: Firmware | None
    last_affected: str | None
    introduced: str | None = None
    """First affected version (``synology`` and ``dotted``: the CVE record's ``version``)."""
    fixed_text: str | None = None
    """``fixed_in`` as written (``synology`` and ``dotted`` compare it by their own rules)."""
    versions: tuple[str, ...] = ()
    """``exact``: the versions stated affected, nothing else."""


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
    scheme: str = "qnap"

    def affects(self, firmware: str) -> bool:
        """The firmware version lies in a range the vendor stated; False where it cannot be
        told (a branch the advisory does not name, no build number or date to compare)."""
        if self.scope != "firmware":
            return False
        if self.scheme == "synology":
            return any(_dsm_affected(firmware, r) for r in self.ranges)
        if self.scheme == "dotted":
            return any(_dotted_affected(firmware, r) for r in self.ranges)
        if self.scheme == "exact":
            shown = firmware.strip().upper()
            return any(shown == v.upper() for r in self.ranges for v in r.versions)
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


_DOTTED = re.compile(r"^\s*\d+(?:\.\d+)*\s*$")


def _dotted_affected(firmware: str, r: BranchRange) -> bool:
    """Numbers compared as numbers (``2.30.196`` < ``2.31.174``); a version with anything
    but digits and dots is not compared."""
    if not _DOTTED.match(firmware):
        return False
    return version_in_range(
        firmware.strip(),
        introduced=r.introduced,
        fixed_in=r.fixed_text,
        last_affected=r.last_affected,
        affected_versions=frozenset(),
    )


def _dsm_affected(firmware: str, r: BranchRange) -> bool:
    seen = parse_dsm(firmware)
    fixed = parse_dsm(r.fixed_text) if r.fixed_text else None
    if seen is None or fixed is None:
        return False
    introduced = parse_dsm(r.introduced) if r.introduced else None
    return dsm_in_range(seen, introduced, fixed)


def _up_to(version: str, last_affected: str) -> bool:
    return version_in_range(
        version,
        introduced=None,
        fixed_in=None,
        last_affected=last_affected,
        affected_versions=frozenset(),
    )


def _readable(scheme: str, key: str, text: str) -> bool:
    """A bound the scheme can compare: a QNAP fix with a build number or date, a DSM fix with
    its build, digits and dots for ``dotted``."""
    if scheme == "qnap":
        return key == "fixed_in" and parse_firmware(text) is not None
    if scheme == "synology":
        dsm = parse_dsm(text)
        return dsm is not None and (key == "introduced" or dsm.build is not None)
    return scheme == "dotted" and _DOTTED.match(text) is not None


def _range(e: dict[str, Any], scheme: str) -> BranchRange:
    for key in ("fixed_in", "introduced"):
        if e.get(key) and not _readable(scheme, key, e[key]):
            raise ValueError(f"unreadable {key} {e[key]!r} ({scheme}) in {DATA_FILE}")
    if scheme == "exact" and not e.get("versions"):
        raise ValueError(f"an exact range without versions in {DATA_FILE}")
    text = e.get("fixed_in")
    return BranchRange(
        branch=branch_of(e["branch"]) if e.get("branch") and scheme == "qnap" else None,
        fixed_in=parse_firmware(text) if text and scheme == "qnap" else None,
        last_affected=e.get("last_affected"),
        introduced=e.get("introduced"),
        fixed_text=text,
        versions=tuple(e.get("versions") or ()),
    )


def _cve(e: dict[str, Any]) -> NasCve:
    scheme = e.get("version_scheme", "qnap")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown version_scheme {scheme!r} of {e['id']} in {DATA_FILE}")
    return NasCve(
        id=e["id"],
        product=e["product"],
        component=e.get("component", ""),
        scope=e["scope"],
        ransomware=tuple(e.get("ransomware") or ()),
        kev_ransomware_use=bool(e.get("kev_ransomware_use")),
        ranges=tuple(_range(r, scheme) for r in e.get("affected") or ()),
        scheme=scheme,
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
