"""What every record of ``inspect`` and ``deid`` carries: the schema version and the clock."""

from __future__ import annotations

from datetime import UTC, datetime

SCHEMA_VERSION = 1


def utc_timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
