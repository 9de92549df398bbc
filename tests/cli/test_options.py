"""``pacsaudit scan``'s parameters and :class:`ScanArguments` stay in step (and ``deid``'s with
the profile options), and every command's help reads at 80 columns."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from msgspec.structs import fields

from pacsaudit.cli.scan import scan
from pacsaudit.cli.scan_options import CLI_ONLY, scan_arguments
from pacsaudit.config import ScanArguments
from pacsaudit.deid.canary import write_corpus
from pacsaudit.usage import UsageError


def _parameters() -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(scan).parameters)


def test_every_parameter_is_a_field_or_a_command_switch() -> None:
    names = set(_parameters())
    field_names = {f.name for f in fields(ScanArguments)}
    assert names - CLI_ONLY == field_names
    assert names >= CLI_ONLY


def test_parameter_defaults_are_the_scan_arguments_defaults() -> None:
    params = _parameters()
    for f in fields(ScanArguments):
        given = params[f.name].default
        assert (given if given is not None or f.default != () else ()) == f.default, f.name


def test_scan_arguments_makes_repeatable_options_tuples() -> None:
    params = {name: p.default for name, p in _parameters().items()}
    params |= {"targets": ["127.0.0.1"], "exclude_files": None, "max_records": 7}
    arguments = scan_arguments(params)
    assert arguments.targets == ("127.0.0.1",)
    assert arguments.exclude_files == ()
    assert arguments.max_records == 7


def test_a_seed_beyond_64_bits_is_refused() -> None:
    with pytest.raises(UsageError, match="--seed"):
        ScanArguments(targets=("127.0.0.1",), seed=1 << 64).validate()


def test_every_profile_option_has_its_deid_flag() -> None:
    from pacsaudit.cli.files import deid
    from pacsaudit.measure.annex_e import Option

    params = set(inspect.signature(deid).parameters)
    profile = {p for p in params if p.startswith(("retain_", "clean_"))}
    assert profile == {o.value.replace("-", "_") for o in Option}


def _help(*command: str) -> str:
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    done = subprocess.run(
        [sys.executable, "-m", "pacsaudit", *command, "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return done.stdout


@pytest.mark.parametrize(
    "command", [("scan",), ("deid",), ("inspect",), ("report",), ("notify",), ("diff",)]
)
def test_help_at_80_columns_cuts_no_option_and_has_no_negative_twins(
    command: tuple[str, ...],
) -> None:
    shown = _help(*command)
    lines = shown.splitlines()
    assert "…" not in shown  # no cell truncated
    assert max(len(line) for line in lines) <= 80
    assert "--no-" not in shown.replace("--no-state", "")  # flags are off unless given
    # every continued help line starts by column 50: the help keeps a third of the width
    for line in lines:
        inner = line.removeprefix("│").rstrip("│")
        if line.startswith("│") and inner.startswith(" " * 10) and inner.strip():
            assert len(inner) - len(inner.lstrip()) < 50, line


def test_scan_help_names_its_flags() -> None:
    shown = _help("scan")
    for name in ("--skip-malformed", "--try-default-credentials", "--resume", "--no-state"):
        assert name in shown


def test_deid_profile_flags_reach_the_profile(tmp_path: Path) -> None:
    """--retain-uids keeps the UIDs, and without it they change: the flag is not lost on the
    way from the command line to the profile."""
    write_corpus(tmp_path / "in", 2, patients=1)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    uids: dict[str, set[str]] = {}
    for name, flags in (("kept", ["--retain-uids"]), ("new", [])):
        subprocess.run(
            [sys.executable, "-m", "pacsaudit", "deid", "in", name, "-q", *flags],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=120,
            check=True,
        )
        uids[name] = {
            str(pydicom.dcmread(p).SOPInstanceUID) for p in (tmp_path / name).rglob("*.dcm")
        }
    original = {str(pydicom.dcmread(p).SOPInstanceUID) for p in (tmp_path / "in").rglob("*.dcm")}
    assert uids["kept"] == original
    assert not uids["new"] & original
