"""``--pseudonymise-paths``: OUT's folder and file names say nothing of IN's.

Shares name folders after patients; a mirror would copy those names into the de-identified
tree, its log, journal and review list. With the option every name is a keyed pseudonym: the
same key gives the same names (a resumed or repeated run finds its files), another key others.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pacsaudit.deid.canary import write_corpus
from pacsaudit.deid.keys import Pseudonyms
from pacsaudit.deid.profile import DeidOptions
from pacsaudit.deid.run import DeidPlan, run_deid
from pacsaudit.inspection.files import METADATA_DIR


def _named_tree(tmp_path: Path) -> tuple[Path, list[str]]:
    """A corpus whose patient folders carry the patient's canary family name, as on a NAS."""
    corpus = tmp_path / "corpus"
    entries = write_corpus(corpus, 6, patients=2)
    root = tmp_path / "in"
    names: list[str] = []
    for entry in entries:
        family = entry.canaries["identity"][0]  # the fake family name
        parts = Path(entry.path).parts
        target = root / f"{family}_{parts[0]}" / Path(*parts[1:])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(corpus / entry.path, target)
        names.append(family)
    return root, sorted(set(names))


def _every_text(out: Path) -> str:
    """All names in OUT and every byte of its metadata files, as text."""
    paths = "\n".join(str(p.relative_to(out)) for p in out.rglob("*"))
    meta = "\n".join(p.read_text("utf-8") for p in (out / METADATA_DIR).iterdir() if p.is_file())
    return paths + "\n" + meta


def test_patient_names_in_folders_do_not_reach_out(tmp_path: Path, key: bytes) -> None:
    root, families = _named_tree(tmp_path)
    out = tmp_path / "out"
    result = run_deid(DeidPlan(root, out, DeidOptions(), key, pseudonymise_paths=True))
    assert result.summary.written == 6
    text = _every_text(out)
    assert not [f for f in families if f.lower() in text.lower()]
    written = sorted(p for p in out.rglob("*.dcm"))
    assert len(written) == 6  # the .dcm suffix kept, one output per input
    assert all(len(p.stem) == 16 for p in written)
    run = json.loads((out / METADATA_DIR / "run.json").read_text())
    assert run["pseudonymise_paths"] is True


def test_same_key_same_names_so_a_rerun_resumes(tmp_path: Path, key: bytes) -> None:
    root, _ = _named_tree(tmp_path)
    out = tmp_path / "out"
    run_deid(DeidPlan(root, out, DeidOptions(), key, pseudonymise_paths=True))
    again = run_deid(DeidPlan(root, out, DeidOptions(), key, pseudonymise_paths=True))
    assert (again.summary.written, again.summary.already_done) == (0, 6)


def test_mirroring_and_pseudonymous_runs_are_not_mixed(tmp_path: Path, key: bytes) -> None:
    from pacsaudit.errors import UsageError

    root, _ = _named_tree(tmp_path)
    out = tmp_path / "out"
    run_deid(DeidPlan(root, out, DeidOptions(), key))
    with pytest.raises(UsageError, match="other options"):
        run_deid(DeidPlan(root, out, DeidOptions(), key, pseudonymise_paths=True))


def test_names_are_keyed() -> None:
    a, b = Pseudonyms(b"k" * 32), Pseudonyms(b"q" * 32)
    assert a.path_name("DOE_JOHN") == a.path_name("DOE_JOHN")
    assert a.path_name("DOE_JOHN") != b.path_name("DOE_JOHN")
    assert a.path_name("IM0001.DCM").endswith(".DCM")
    assert "." not in a.path_name("report.pdf")  # only DICOM suffixes are kept
    assert "." not in a.path_name(".hidden")


def test_names_that_are_not_utf8_are_kept_apart_and_logged(tmp_path: Path, key: bytes) -> None:
    """Latin-1 folder names from an old NAS: records escape them, the files keep their real
    names in a mirror, and two such names never share a pseudonym."""
    import os

    corpus = tmp_path / "corpus"
    entries = write_corpus(corpus, 2, patients=2)
    root = tmp_path / "in"
    for raw, entry in zip((b"M\xfcller", b"M\xe9ller"), entries, strict=True):
        folder = os.fsencode(root) + b"/" + raw
        os.makedirs(folder)
        shutil.copy2(corpus / entry.path, os.fsdecode(folder + b"/a.dcm"))
    mirrored = run_deid(DeidPlan(root, tmp_path / "mirror", DeidOptions(), key))
    assert mirrored.summary.written == 2
    assert sorted(f.path for f in mirrored.files) == ["M\\udce9ller/a.dcm", "M\\udcfcller/a.dcm"]
    assert os.path.isdir(os.fsencode(tmp_path / "mirror") + b"/M\xfcller")
    again = run_deid(DeidPlan(root, tmp_path / "mirror", DeidOptions(), key))
    assert again.summary.already_done == 2  # the journal finds them by the same escaped name
    named = run_deid(
        DeidPlan(root, tmp_path / "named", DeidOptions(), key, pseudonymise_paths=True)
    )
    assert named.summary.written == 2
    assert len({Path(f.path).parent for f in named.files}) == 2
