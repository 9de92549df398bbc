"""``pacsaudit diff OLD NEW``: what changed between two scans of the same networks.

Researchers measured again months later to see the exposure grow; a hospital re-scans to see its
fixes hold. A service is identified by ip/port/protocol and is *exposed* when its class lets
anyone in (README: exposure classes). Between the scans a service is

- ``newly-exposed``: exposed now, not before (or not seen before);
- ``fixed``: exposed before, seen again and no longer exposed;
- ``still-exposed``: exposed in both, with the change in patients, studies and images;
- ``no-longer-seen``: exposed before and absent from the new results — fixed, offline or not
  re-scanned: the results alone cannot tell, so it is not called fixed.

With keyed Patient ID hashes made by the same key, the diff also counts patients whose hash
appears in the new scan's exposed services and in none of the old scan's: patients newly
exposed — the archives' (Q/R) and the Modality Worklists' hashes together, so a patient newly
scheduled on an open worklist is newly exposed. Hashes made with different keys are never
compared. ``worklist_patients`` and ``all_patients`` (archive and worklist patients, each
service's counted once: :attr:`pacsaudit.report.service.Service.all_patients`) are compared
beside ``patients``.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from pacsaudit.peertext import visible_lines
from pacsaudit.report.records import Loaded, exposure_sum
from pacsaudit.report.service import SEVERITY_RANK, Count, Service, ip_order
from pacsaudit.report.summary import SET_APART_FLAGS

CHANGES = ("newly-exposed", "fixed", "still-exposed", "no-longer-seen")
_ALWAYS = ("patients", "studies", "images")
"""Totals the text always names; the worklist ones only where a worklist was counted."""


class Measure(msgspec.Struct, kw_only=True):
    old: int | None
    old_lower_bound: bool
    new: int | None
    new_lower_bound: bool
    delta: int | None
    lower_bound: bool
    """Either side was cut short: the change is approximate."""


class ServiceChange(msgspec.Struct, kw_only=True):
    target: str
    ip: str
    port: int
    protocol: str
    change: str
    old_class: str | None
    new_class: str | None
    old_severity: str | None
    new_severity: str | None
    patients: Measure
    studies: Measure
    images: Measure
    worklist_patients: Measure
    patients_newly_exposed: int | None
    """Keyed hashes seen on this service now and not on it before (same key only)."""
    flags: list[str]


class Side(msgspec.Struct, kw_only=True):
    files: list[str]
    records: int
    bad_lines: int
    first_seen: str | None
    last_seen: str | None
    exposed_services: int


class CompromiseChange(msgspec.Struct, kw_only=True):
    """Hosts (addresses) whose shares show signs of compromise, old and new: kept out of the
    service changes, since a ransom note is not an exposure that a setting fixes."""

    new_hosts: list[str]
    """Signs now, none before: incidents since the last scan."""
    still_hosts: list[str]
    gone_hosts: list[str]
    """Signs before, none now (cleaned, or the share is gone or no longer readable)."""


class Diff(msgspec.Struct, kw_only=True):
    old: Side
    new: Side
    changes: dict[str, list[ServiceChange]]
    """Change kind → services, most severe first."""
    totals: dict[str, Measure]
    """``patients``, ``worklist_patients``, ``all_patients``, ``studies``, ``images`` over
    exposed services not set apart as honeypots or demo data."""
    hashes_comparable: bool
    patients_newly_exposed: int | None
    patients_no_longer_exposed: int | None
    compromise: CompromiseChange
    warnings: list[str]


def _measure(old: Count | None, new: Count | None) -> Measure:
    old = old or Count()
    new = new or Count()
    delta = None
    if old.value is not None or new.value is not None:
        delta = (new.value or 0) - (old.value or 0)
    return Measure(
        old=old.value,
        old_lower_bound=old.lower_bound,
        new=new.value,
        new_lower_bound=new.lower_bound,
        delta=delta,
        lower_bound=old.lower_bound or new.lower_bound,
    )


def _counted(s: Service) -> bool:
    return s.exposed and not any(f in SET_APART_FLAGS for f in s.flags)


def _key_of(loaded: Loaded) -> str | None:
    keys = loaded.hash_keys
    return next(iter(keys)) if len(keys) == 1 else None


def _side(loaded: Loaded) -> Side:
    return Side(
        files=list(loaded.files),
        records=loaded.records,
        bad_lines=len(loaded.bad_lines),
        first_seen=loaded.first_seen,
        last_seen=loaded.last_seen,
        exposed_services=sum(1 for s in loaded.services if s.exposed and not s.is_compromise),
    )


def _sum(services: Sequence[Service], name: str) -> Count:
    return exposure_sum((s for s in services if _counted(s)), name)


def diff(old: Loaded, new: Loaded) -> Diff:
    """Compare two loaded result sets service by service and in total."""
    warnings = [f"old: {w}" for w in old.warnings] + [f"new: {w}" for w in new.warnings]
    old_key, new_key = _key_of(old), _key_of(new)
    comparable = old_key is not None and old_key == new_key
    if not comparable and (old.hash_keys or new.hash_keys):
        warnings.append(
            "Patient ID hashes of the two scans were made with different keys (or several "
            "keys): patients newly exposed cannot be counted"
        )
    before = {s.key: s for s in old.services if not s.is_compromise}
    after = {s.key: s for s in new.services if not s.is_compromise}
    changes: dict[str, list[ServiceChange]] = {c: [] for c in CHANGES}
    for key in sorted(before.keys() | after.keys(), key=lambda k: (k[0], k[1], k[2])):
        o, n = before.get(key), after.get(key)
        was = o is not None and o.exposed
        now = n is not None and n.exposed
        if now:
            kind = "still-exposed" if was else "newly-exposed"
        elif was:
            kind = "fixed" if n is not None else "no-longer-seen"
        else:
            continue
        ref = n or o
        assert ref is not None
        newly: int | None = None
        if comparable and n is not None and now:
            seen_before = _hashes(o) if o is not None else set()
            newly = len(_hashes(n) - seen_before)
        changes[kind].append(
            ServiceChange(
                target=ref.target,
                ip=ref.ip,
                port=ref.port,
                protocol=ref.protocol,
                change=kind,
                old_class=o.exposure_class if o else None,
                new_class=n.exposure_class if n else None,
                old_severity=o.severity if o else None,
                new_severity=n.severity if n else None,
                patients=_measure(o.patients if o else None, n.patients if n else None),
                studies=_measure(o.studies if o else None, n.studies if n else None),
                images=_measure(o.images if o else None, n.images if n else None),
                worklist_patients=_measure(
                    o.worklist_patients if o else None, n.worklist_patients if n else None
                ),
                patients_newly_exposed=newly,
                flags=list(ref.flags),
            )
        )
    for items in changes.values():
        items.sort(key=lambda c: (-_rank(c.new_severity or c.old_severity), c.ip, c.port))
    totals = {
        name: _measure(_sum(old.services, name), _sum(new.services, name))
        for name in ("patients", "studies", "images", "worklist_patients", "all_patients")
    }
    newly_total = gone_total = None
    if comparable:
        old_hashes = {h for s in old.services if _counted(s) for h in _hashes(s)}
        new_hashes = {h for s in new.services if _counted(s) for h in _hashes(s)}
        newly_total = len(new_hashes - old_hashes)
        gone_total = len(old_hashes - new_hashes)
    return Diff(
        old=_side(old),
        new=_side(new),
        changes=changes,
        totals=totals,
        hashes_comparable=comparable,
        patients_newly_exposed=newly_total,
        patients_no_longer_exposed=gone_total,
        compromise=_compromise_change(old, new),
        warnings=warnings,
    )


def _hashes(s: Service) -> set[str]:
    """The service's Q/R and worklist hashes (one key: callers compare only then)."""
    return {h for hashes in s.keyed_hashes().values() for h in hashes}


def _compromise_change(old: Loaded, new: Loaded) -> CompromiseChange:
    def hosts(loaded: Loaded) -> set[str]:
        return {s.ip for s in loaded.services if s.is_compromise}

    was, now = hosts(old), hosts(new)
    return CompromiseChange(
        new_hosts=sorted(now - was, key=ip_order),
        still_hosts=sorted(now & was, key=ip_order),
        gone_hosts=sorted(was - now, key=ip_order),
    )


def _rank(severity: str | None) -> int:
    return SEVERITY_RANK.get(severity or "", -1)


def fmt_measure(m: Measure) -> str:
    """``25 → 30 (+5)``; ``≥`` marks a side that was cut short, ``≈`` the change it makes."""
    if m.old is None and m.new is None:
        return "-"
    old = "-" if m.old is None else ("≥" if m.old_lower_bound else "") + f"{m.old:,}"
    new = "-" if m.new is None else ("≥" if m.new_lower_bound else "") + f"{m.new:,}"
    delta = f" ({'≈' if m.lower_bound else ''}{m.delta:+,})" if m.delta else ""
    return f"{old} → {new}{delta}"


def render_text(d: Diff) -> str:
    """The terminal form: one line per changed service, then the totals."""
    lines = [
        f"old: {', '.join(d.old.files)} ({d.old.records} records, "
        f"{d.old.exposed_services} exposed)",
        f"new: {', '.join(d.new.files)} ({d.new.records} records, "
        f"{d.new.exposed_services} exposed)",
    ]
    for kind in CHANGES:
        items = d.changes[kind]
        lines.append("")
        lines.append(f"{kind} ({len(items)})")
        for c in items:
            cls = (
                c.new_class
                if c.old_class == c.new_class or c.old_class is None
                else f"{c.old_class} → {c.new_class}"
            )
            if kind in ("fixed", "no-longer-seen"):
                cls = f"was {c.old_class}" + (f", now {c.new_class}" if c.new_class else "")
            extra = ""
            if c.patients_newly_exposed:
                extra = f"; {c.patients_newly_exposed} patients newly exposed"
            lines.append(
                f"  {c.target:<24} {c.protocol:<8} {cls or '-'}; "
                f"patients {fmt_measure(c.patients)}, studies {fmt_measure(c.studies)}, "
                f"images {fmt_measure(c.images)}"
                + (
                    f", worklist patients {fmt_measure(c.worklist_patients)}"
                    if c.worklist_patients.old is not None or c.worklist_patients.new is not None
                    else ""
                )
                + extra
            )
    lines.append("")
    lines.append(
        "total: "
        + ", ".join(
            f"{name.replace('_', ' ')} {fmt_measure(m)}"
            for name, m in d.totals.items()
            if m.old is not None or m.new is not None or name in _ALWAYS
        )
        + " (exposed services, honeypots and demo data set apart)"
    )
    if d.hashes_comparable:
        lines.append(
            f"patients newly exposed (keyed hashes): {d.patients_newly_exposed:,}; "
            f"no longer exposed: {d.patients_no_longer_exposed:,}"
        )
    else:
        lines.append("patients newly exposed: not comparable (different or missing hash keys)")
    hit = d.compromise
    if hit.new_hosts or hit.still_hosts or hit.gone_hosts:
        lines.append(
            f"signs of compromise: {len(hit.new_hosts)} hosts new, {len(hit.still_hosts)} "
            f"still, {len(hit.gone_hosts)} gone"
            + (f" (new: {', '.join(hit.new_hosts[:10])})" if hit.new_hosts else "")
        )
    return visible_lines("\n".join(lines)) + "\n"


def encode_diff(d: Diff) -> bytes:
    return msgspec.json.format(msgspec.json.encode(d), indent=2) + b"\n"
