"""Dotted version comparison for CVE ranges ("3.6.10" > "3.6.9"; "1.12.0" > "1.5.8")."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+)|([A-Za-z]+)")


def version_key(version: str) -> tuple[tuple[int, str], ...]:
    """Numbers compare as numbers, letters after them (``3.6.1a`` > ``3.6.1``)."""
    return tuple((int(num), "") if num else (-1, word) for num, word in _PART.findall(version))


def version_in_range(
    version: str,
    *,
    introduced: str | None,
    fixed_in: str | None,
    last_affected: str | None,
    affected_versions: frozenset[str],
) -> bool:
    if affected_versions and not introduced:
        return version in affected_versions  # only those versions were stated affected
    if version in affected_versions:
        return True
    key = version_key(version)
    if introduced and introduced != "0" and key < version_key(introduced):
        return False
    if fixed_in:
        return key < version_key(fixed_in)
    if last_affected:
        return key <= version_key(last_affected)
    return False
