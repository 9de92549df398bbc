"""The generated code dictionary agrees with pydicom's, and loads without importing it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pacsaudit.measure.annex_e import Option
from pacsaudit.measure.codes import dcm_code, meaning

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_dictionary_is_what_the_generator_writes() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "code_meanings.py"), "check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_option_codes_match_pydicoms_code_dictionary() -> None:
    from pydicom.sr.codedict import codes

    assert Option.CLEAN_DESCRIPTORS.code_value == codes.DCM.CleanDescriptorsOption.value
    assert Option.RETAIN_UIDS.code_value == codes.DCM.RetainUidsOption.value
    profile = codes.DCM.BasicApplicationConfidentialityProfile
    assert dcm_code(profile.meaning).value == profile.value
    assert meaning("SCT", codes.SCT.Head.value) == codes.SCT.Head.meaning


def test_unknown_codes_have_no_meaning() -> None:
    assert meaning("99LOCAL", "CT1") is None
    assert meaning("DCM", "no-such-code") is None


def test_loading_the_dictionary_does_not_import_pydicoms() -> None:
    code = (
        "import sys; from pacsaudit.measure.codes import meaning; meaning('DCM', '121106'); "
        "print('pydicom.sr' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
