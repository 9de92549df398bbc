"""The result model and its JSON Schema: the committed schema is the generated one, and every
finding the probe makes of the hostile peers (``hostile_servers.py``) validates against it."""

from __future__ import annotations

import importlib.util
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import jsonschema
import msgspec
import pytest

from hostile_servers import BUDGET_SCENARIOS, SCENARIOS, findings_of_every_scenario
from pacsaudit import model
from pacsaudit.model import (
    SCHEMA_VERSION,
    ErrorInfo,
    ErrorKind,
    Finding,
    Status,
    decode_finding,
    encode_finding,
    finding_schema,
)
from pacsaudit.report.jsonl import JsonlWriter

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schemas" / "finding.schema.json"


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_schema", ROOT / "tools" / "gen_schema.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def as_json(finding: Finding) -> Any:
    return json.loads(encode_finding(finding))


class TestSchemaFile:
    def test_committed_file_is_the_generated_schema(self) -> None:
        committed = SCHEMA_FILE.read_text("utf-8")
        assert committed == load_tool().render(), "run: python tools/gen_schema.py"
        assert json.loads(committed) == json.loads(json.dumps(finding_schema()))

    def test_text_does_not_depend_on_msgspec_docstring_style(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """msgspec up to 0.22 kept a docstring's indentation in ``description``, 0.23 strips it:
        the committed schemas are what either release gives."""
        real = msgspec.json.schema

        def indent(node: Any) -> Any:
            if isinstance(node, dict):
                return {
                    k: v.replace("\n", "\n    ").replace("\n    \n", "\n\n")
                    if k == "description" and isinstance(v, str)
                    else indent(v)
                    for k, v in node.items()
                }
            return [indent(x) for x in node] if isinstance(node, list) else node

        def as_old_msgspec(model: Any) -> Any:
            return indent(real(model))

        old = as_old_msgspec(Finding)["$defs"]["FileShareResult"]["description"]
        assert "\n    " in old  # the stand-in does indent as msgspec 0.22 did
        monkeypatch.setattr(msgspec.json, "schema", as_old_msgspec)
        tool = load_tool()
        assert tool.render() == SCHEMA_FILE.read_text("utf-8")
        summary = SCHEMA_FILE.with_name("summary.schema.json").read_text("utf-8")
        assert tool.render("summary.schema.json") == summary

    def test_layout(self) -> None:
        text = SCHEMA_FILE.read_text("utf-8")
        assert text.endswith("}\n")
        assert not text.endswith("\n\n")
        assert '\n  "$defs": {' in text  # two-space indent, keys sorted ("$defs" first)

    def test_tool_check_mode(self, tmp_path: Path) -> None:
        tool = load_tool()
        stale = tmp_path / "finding.schema.json"
        stale.write_text("{}\n", "utf-8")
        assert tool.main(["--check", "--directory", str(tmp_path)]) == 1
        assert tool.main(["--directory", str(tmp_path)]) == 0
        assert tool.main(["--check", "--directory", str(tmp_path)]) == 0
        assert stale.read_text("utf-8") == SCHEMA_FILE.read_text("utf-8")

    def test_envelope_and_vocabularies(self, validator: jsonschema.Draft202012Validator) -> None:
        schema = validator.schema
        finding = schema["$defs"]["Finding"]
        assert {"ip", "port", "protocol", "status", "timestamp"} <= set(finding["required"])
        assert sorted(schema["$defs"]["Status"]["enum"]) == sorted(s.value for s in Status)
        assert sorted(schema["$defs"]["ErrorKind"]["enum"]) == sorted(k.value for k in ErrorKind)


class TestHostileFindings:
    def test_every_finding_validates(self, validator: jsonschema.Draft202012Validator) -> None:
        pairs = findings_of_every_scenario()
        names = [name for name, _ in pairs]
        assert sorted(names) == sorted([s.name for s in SCENARIOS + BUDGET_SCENARIOS] + ["tls"])
        for name, finding in pairs:
            errors = [e.message for e in validator.iter_errors(as_json(finding))]
            assert errors == [], name

    def test_they_cover_every_status_and_the_usual_error_kinds(self) -> None:
        findings = [f for _, f in findings_of_every_scenario()]
        # The file-share and web statuses come from other probes (tests/probes/fileshare and
        # tests/probes/http cover them).
        others = {
            Status.FILTERED,
            Status.FTP,
            Status.SMB,
            Status.RSYNC,
            Status.HTTP,
            Status.COMPROMISE,
        }
        assert {f.status for f in findings} == set(Status) - others
        kinds = {f.error.kind for f in findings if f.error is not None}
        assert kinds >= {
            ErrorKind.RESET,
            ErrorKind.EOF,
            ErrorKind.READ_TIMEOUT,
            ErrorKind.BUDGET_EXCEEDED,
            ErrorKind.PROTOCOL_VIOLATION,
        }
        tls = dict(findings_of_every_scenario())["tls"]
        assert tls.result is not None
        assert tls.result.tls is not None

    def test_round_trip(self) -> None:
        for _, finding in findings_of_every_scenario():
            assert decode_finding(encode_finding(finding)) == finding


class TestSchemaConstrains:
    """The schema is not a rubber stamp: broken findings fail it."""

    @pytest.fixture
    def good(self) -> dict[str, Any]:
        finding = Finding(
            "192.0.2.1",
            104,
            "dicom",
            Status.ERROR,
            "2026-01-01T00:00:00.000Z",
            error=ErrorInfo(ErrorKind.RESET, "the peer reset the connection"),
        )
        data: dict[str, Any] = as_json(finding)
        return data

    def test_good_passes(
        self, good: dict[str, Any], validator: jsonschema.Draft202012Validator
    ) -> None:
        assert validator.is_valid(good)
        assert good["schema_version"] == SCHEMA_VERSION

    @pytest.mark.parametrize(
        "breakage",
        [
            {"status": "maybe"},
            {"port": "104"},
            {"error": {"kind": "gremlins", "message": "?"}},
            {"error": {"kind": "reset"}},
            {"result": {"kind": "gopher"}},
            {"result": {"kind": "dicom", "ae_policy": "whatever"}},
        ],
    )
    def test_broken_fails(
        self,
        good: dict[str, Any],
        breakage: dict[str, Any],
        validator: jsonschema.Draft202012Validator,
    ) -> None:
        assert not validator.is_valid({**good, **breakage})

    def test_missing_envelope_field_fails(
        self, good: dict[str, Any], validator: jsonschema.Draft202012Validator
    ) -> None:
        del good["ip"]
        assert not validator.is_valid(good)


def test_jsonl_writer_writes_whole_lines(tmp_path: Path) -> None:
    findings = [f for _, f in findings_of_every_scenario()]
    path = tmp_path / "out" / "findings.jsonl"
    with JsonlWriter(path, flush_bytes=1 << 20, flush_interval=3600) as writer:
        for finding in findings:
            writer.write(finding)
        assert path.read_bytes() == b""  # batched: nothing written before a flush
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert [decode_finding(line) for line in lines[:-1]] == findings
    assert writer.written == len(findings)


def test_utc_timestamp_is_now_to_the_millisecond() -> None:
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    for _ in range(3):  # the first call formats the second, the next ones reuse it
        before = datetime.now(UTC).replace(microsecond=0)
        text = model.utc_timestamp()
        after = datetime.now(UTC)
        assert pattern.match(text), text
        assert before <= datetime.fromisoformat(text) <= after
    # what datetime itself writes, to the character, at a second boundary too
    for moment in (1_700_000_000.0, 1_700_000_000.999, 1_767_225_599.5):
        with mock.patch("time.time", return_value=moment):
            text = model.utc_timestamp()
        expected = datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
        assert text == expected.replace("+00:00", "Z")
