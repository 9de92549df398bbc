"""The lab starts the programs it means: DCMTK's tools, not pynetdicom's scripts of the same name.

Found by running the suite with the venv's ``bin`` first on PATH (an activated venv): the lab's
TLS storescp was pynetdicom's console script, which took DCMTK's options as wrong ones and
exited, and the error pointed to a log that the failed ``lab up`` had already removed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pacsaudit.lab.services import (
    LabError,
    LabInfo,
    LabService,
    find_program,
    samba_helpers_of,
    start_service,
)


def _script(folder: Path, name: str, body: str = "echo script\n") -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_a_script_earlier_on_path_is_passed_over_for_the_native_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _script(tmp_path, "true")
    native = find_program("true")  # before the change of PATH: coreutils' own
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    found = find_program("true")
    assert found == native
    assert not found.startswith(str(tmp_path))


def test_only_scripts_of_that_name_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _script(tmp_path, "dcmtk-tool-that-is-not-there")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabError, match="only scripts of that name") as caught:
        find_program("dcmtk-tool-that-is-not-there")
    assert "install the Debian packages" in str(caught.value)


def test_a_server_that_dies_at_start_up_is_quoted_in_the_error(tmp_path: Path) -> None:
    """The log's end goes into the message, control bytes made visible."""
    info = LabInfo(state_dir=tmp_path / "state")
    service = LabService(
        name="dies", software="test", protocol="dicom", port=1, description="exits at once"
    )
    argv = [
        "/bin/sh",
        "-c",
        "printf 'E: cannot listen\\033[31m on port\\n'; exit 3",
    ]
    with pytest.raises(LabError) as caught:
        start_service(info, service, argv, tmp_path)
    message = str(caught.value)
    assert "dies exited during start-up" in message
    assert "E: cannot listen?[31m on port" in message
    assert "\x1b" not in message


def test_the_port_plan_numbers_the_table_in_order() -> None:
    from pacsaudit.lab.table import SERVICES, default_ports

    planned = default_ports(30000)
    assert list(planned) == list(SERVICES)
    assert list(planned.values()) == list(range(30000, 30000 + len(SERVICES)))
    usual = default_ports(0)
    assert len(set(usual.values())) == len(usual)
    with pytest.raises(LabError, match="out of range"):
        default_ports(65535)


def test_samba_helpers_are_found_by_their_configuration_only(tmp_path: Path) -> None:
    """A process on a configuration in the folder is found; one that only names the folder
    (a shell running ``lab down --state-dir``) is not."""
    import subprocess
    import sys

    conf = tmp_path / "samba" / "smb.conf"
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    helper = subprocess.Popen([*sleeper, f"--configfile={conf}"])
    bystander = subprocess.Popen([*sleeper, f"--state-dir={tmp_path}"])
    try:
        found = samba_helpers_of(tmp_path)
        assert helper.pid in found
        assert bystander.pid not in found
    finally:
        for proc in (helper, bystander):
            proc.kill()
            proc.wait(5)
