"""What the catalogue knows of a probe before importing it: a light, import-cheap record.

A probe's module pulls in the libraries behind it (httpx, impacket, aioftp, pydicom,
cryptography); a scan imports it only when a target may need it. Everything needed to decide
that — which ports it claims, which first answers hand a port to it, whether the engine may
connect for it — is data here, declared once per probe in its package's ``__init__``.
"""

from __future__ import annotations

import enum
import importlib
from typing import Any

import msgspec

from pacsaudit.contract import Probe


class FirstAnswer(enum.StrEnum):
    """What a port said to the identifying probe's opening bytes (see
    :mod:`pacsaudit.probes.dispatch`), and so which probes follow on it."""

    TLS_ALERT = "tls-alert"
    """A TLS alert record: the port wants a handshake first."""
    SILENT_CLOSE = "silent-close"
    """Closed or reset without a word: what TLS servers and SMB servers do to a DICOM RQ."""


class ProbeSpec(msgspec.Struct, frozen=True):
    """One probe as the catalogue lists it."""

    key: str
    """What ``--probe`` names; also the protocol its findings name."""
    implementation: str
    """``module:Class`` of the probe, imported on first use."""
    options: str
    """The field of the scan's probe options its class is built from (``dicom``, ``http``…)."""
    description: str
    ports: tuple[int, ...] = ()
    """The ports it claims; a port no probe or several probes claim is identified first."""
    banner_prefixes: tuple[str, ...] = ()
    """Starts of an answer (as ``errors.printable_sample`` renders it) that name this protocol,
    when the identifying probe drew it on an unclaimed port."""
    follows: tuple[tuple[FirstAnswer, int], ...] = ()
    """First answers after which it is tried, each with its rank among the probes tried then
    (lower first)."""
    identifies: bool = False
    """It speaks first on unclaimed ports; its answer picks the probes that follow."""
    dials_itself: bool = False
    """Its library opens its own connections (impacket for SMB): the engine must not connect
    first for it, which would open a second connection, nor spend a ``--rate`` token at the
    target's start; the probe calls :func:`pacsaudit.net.stream.pay_for_connection` before
    each connection its library opens."""
    tls: bool = False
    """It speaks inside TLS on every port."""

    def load(self) -> Any:
        """The probe's class: imports its module (and the libraries behind it)."""
        module, _, name = self.implementation.partition(":")
        return getattr(importlib.import_module(module), name)

    def build(self, options: object) -> Probe:
        """A probe configured from the scan's probe options (an object with one attribute per
        options field: :class:`pacsaudit.probes.catalog.ProbeOptions`, or a plan)."""
        probe: Probe = self.load()(getattr(options, self.options))
        return probe
