"""Dotted version comparison for CVE ranges ("3.6.10" > "3.6.9"; "1.12.0" > "1.5.8"), and
QNAP's firmware versions, fixed per branch and told apart by build number and date."""

from __future__ import annotations

import re

import msgspec

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


_FIRMWARE = re.compile(r"^\s*(?:(\d+(?:\.\d+)*))?\s*(?:build\s*(\d{8}))?\s*$", re.IGNORECASE)


class Firmware(msgspec.Struct, frozen=True):
    """A NAS firmware version as QNAP writes it: ``5.0.1.2145 build 20220903``.

    ``branch`` is the first three numbers (``5.0.1``), which QNAP fixes separately; ``number``
    the fourth (the build number, ``2145``); ``build_date`` the ``build`` date. Any part may be
    missing: an administration page may show ``4.5.4 build 20210923`` (no number), an
    advisory ``build 20190918`` (no number) or ``4.2.6 build 20210327``."""

    numbers: tuple[int, ...]
    build_date: int | None

    @property
    def branch(self) -> tuple[int, ...]:
        return self.numbers[:3]

    @property
    def number(self) -> int | None:
        return self.numbers[3] if len(self.numbers) > 3 else None


def parse_firmware(text: str) -> Firmware | None:
    """``5.0.1.2145``, ``4.5.4 build 20210923``, ``build 20190918``; None for anything else."""
    m = _FIRMWARE.match(text)
    if m is None or not (m.group(1) or m.group(2)):
        return None
    numbers = tuple(int(n) for n in m.group(1).split(".")) if m.group(1) else ()
    return Firmware(numbers, int(m.group(2)) if m.group(2) else None)


def branch_of(text: str) -> tuple[int, ...]:
    """``"4.5.2"`` → ``(4, 5, 2)``."""
    return tuple(int(n) for n in text.split("."))


def firmware_before_fix(version: Firmware, branch: tuple[int, ...], fixed: Firmware) -> bool | None:
    """Whether ``version`` on ``branch`` precedes the branch's first fixed release.

    None where it cannot be told: another branch (QNAP fixes each branch apart, so 4.5.1.1495
    fixes nothing on 4.5.2), or no part the two have in common to compare. The build date is
    compared first where both carry one (QNAP's dates rise within a branch), then the build
    number."""
    if version.branch != branch:
        return None
    if version.build_date is not None and fixed.build_date is not None:
        return version.build_date < fixed.build_date
    if version.number is not None and fixed.number is not None:
        return version.number < fixed.number
    return None


_DSM = re.compile(
    r"^\s*(?:DSM\s*)?(\d+)\.(\d+)(?:\.(\d+))?(?:-(\d+)(?:(?:-|\s+Update\s+)(\d+))?)?\s*$",
    re.IGNORECASE,
)


class DsmVersion(msgspec.Struct, frozen=True):
    """A Synology DSM version as its advisories write it: ``7.2.1-69057-6`` (release 7.2.1,
    build 69057, update 6; also ``7.2.1-69057 Update 6``). A release without a micro number is
    ``.0`` (``7.2-64570-4`` is 7.2.0). The build number rises from release to release, the
    update within a build; a version without a build says only its release."""

    release: tuple[int, int, int]
    build: int | None
    update: int


def parse_dsm(text: str) -> DsmVersion | None:
    """``7.2.2-72806-1``, ``6.2.3-25426``, ``7.1.1-42962 Update 7``, ``7.2``; None otherwise."""
    m = _DSM.match(text)
    if m is None:
        return None
    major, minor, micro, build, update = m.groups()
    return DsmVersion(
        (int(major), int(minor), int(micro or 0)),
        int(build) if build else None,
        int(update) if update else 0,
    )


def dsm_in_range(version: DsmVersion, introduced: DsmVersion | None, fixed: DsmVersion) -> bool:
    """``introduced`` <= ``version`` < ``fixed`` (the CVE record's ``version``/``lessThan``),
    releases compared first. False where it cannot be told: a version without a build on the
    fixed release itself (its build may be before or after the fix)."""
    if introduced is not None and version.release < introduced.release:
        return False
    if version.release != fixed.release:
        return version.release < fixed.release
    if version.build is None or fixed.build is None:
        return False
    return (version.build, version.update) < (fixed.build, fixed.update)
