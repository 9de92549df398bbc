"""What a TLS session tells an auditor: protocol version, cipher, certificate facts.

Shared by every probe that speaks TLS (DICOM on 2762, HTTPS later), so that reports compare
like with like. The certificate is parsed with ``cryptography`` from its DER bytes, because the
standard library returns nothing but DER when verification is off.
"""

from __future__ import annotations

import hashlib
import ssl
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from pacsaudit.model import Certificate, TlsInfo
from pacsaudit.peertext import printable_text


def describe_session(session: ssl.SSLObject | None) -> TlsInfo | None:
    if session is None:
        return None
    cipher = session.cipher()
    der = session.getpeercert(binary_form=True)
    return TlsInfo(
        version=session.version(),
        cipher=cipher[0] if cipher else None,
        certificate=describe_certificate(der) if der else None,
    )


def describe_certificate(der: bytes, now: datetime | None = None) -> Certificate | None:
    """Facts about one certificate; None when the DER cannot be parsed (recorded as absent)."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    now = now or datetime.now(UTC)
    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        alt_names = [printable_text(v, 128) for v in sans.get_values_for_type(x509.DNSName)] + [
            str(v) for v in sans.get_values_for_type(x509.IPAddress)
        ]
    except (x509.ExtensionNotFound, ValueError):
        alt_names = []
    key_type, key_bits = _key_facts(cert)
    sig = cert.signature_hash_algorithm
    return Certificate(
        subject=printable_text(cert.subject.rfc4514_string(), 256),
        issuer=printable_text(cert.issuer.rfc4514_string(), 256),
        self_signed=_self_signed(cert),
        not_before=not_before.isoformat().replace("+00:00", "Z"),
        not_after=not_after.isoformat().replace("+00:00", "Z"),
        expired=now > not_after or now < not_before,
        sha256=hashlib.sha256(der).hexdigest(),
        serial=format(cert.serial_number, "x"),
        key_type=key_type,
        key_bits=key_bits,
        signature_algorithm=sig.name if sig is not None else None,
        subject_alt_names=alt_names[:32],
    )


def _self_signed(cert: x509.Certificate) -> bool:
    """Issuer equals subject and the certificate's own key verifies its signature."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:  # InvalidSignature, unsupported key types: not provably self-signed
        return False
    return True


def _key_facts(cert: x509.Certificate) -> tuple[str | None, int | None]:
    try:
        key = cert.public_key()
    except Exception:  # an algorithm cryptography does not support
        return None, None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC-{key.curve.name}", key.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(key).__name__, None
