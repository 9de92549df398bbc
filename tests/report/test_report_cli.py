"""pacsaudit report, notify and diff as a user runs them: files written, paths printed, bad
input named on stderr with the valid records still reported, usage errors as one line and
exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import report_fixtures as fx

PACSAUDIT = [sys.executable, "-m", "pacsaudit"]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PACSAUDIT, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def test_report_with_bad_lines_reports_the_rest_and_names_them(tmp_path: Path) -> None:
    good = fx.write_new(tmp_path)
    cut = tmp_path / "cut.jsonl"
    lines = fx.lines(fx.OLD)
    cut.write_bytes(lines[0] + b"\n" + lines[1][:40])
    out = tmp_path / "out"
    done = run("report", good, cut, "-o", out, "--compare", fx.write_old(tmp_path))
    assert done.returncode == 0, done.stderr
    names = ("summary.json", "report.html", "findings.csv")
    assert done.stdout.splitlines() == [str(out / n) for n in names]
    assert f"warning: 1 bad line skipped, the valid records are reported: {cut}:2: truncated" in (
        done.stderr
    )
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["inputs"]["bad_lines"] == 1
    assert summary["inputs"]["bad_line_refs"] == [
        f"{cut}:2: truncated record at end of file (was the scan interrupted?)"
    ]
    assert summary["totals"]["services"] == fx.NEW_TOTALS["services"]


def test_public_report_from_the_command_line(tmp_path: Path) -> None:
    done = run("report", fx.write_new(tmp_path), "-o", tmp_path / "pub", "--public", "--k", "3")
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "pub" / "summary.json").read_text("utf-8"))
    assert summary["public"] is True
    assert summary["suppression"]["k"] == 3
    assert not (tmp_path / "pub" / "findings.csv").exists()


def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    new = fx.write_new(tmp_path)
    cases = [
        (["report", tmp_path / "missing.jsonl", "-o", tmp_path / "o"], "no such results file"),
        (["report", empty, "-o", tmp_path / "o"], "no valid findings in"),
        (["report", new, "-o", tmp_path / "o", "--public", "--k", "0"], "--k must be at least 1"),
        (["report", new, "-o", tmp_path / "o", "--public", "--compare", new], "not in a --public"),
        (["diff", empty, new], "no valid findings in"),
        (["notify", new, "--owners", tmp_path / "none.csv", "-o", tmp_path / "n"],
         "no such owners map"),
    ]  # fmt: skip
    for args, message in cases:
        done = run(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("error: ")
        assert message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert not (tmp_path / "o").exists()


def test_diff_prints_text_or_json_and_writes_html(tmp_path: Path) -> None:
    old, new = fx.write_old(tmp_path), fx.write_new(tmp_path)
    text = run("diff", old, new, "-o", tmp_path / "d")
    assert text.returncode == 0, text.stderr
    assert "still-exposed (2)" in text.stdout
    assert (tmp_path / "d" / "diff.html").is_file()
    as_json = run("diff", old, new, "--json")
    assert json.loads(as_json.stdout)["patients_newly_exposed"] == 7


def test_diff_warnings_go_to_stderr(tmp_path: Path) -> None:
    old, new = fx.write_old(tmp_path), fx.write_new(tmp_path)
    with new.open("ab") as fh:
        fh.write(b"not json\n")
    text = run("diff", old, new)
    assert text.returncode == 0, text.stderr
    assert "warning:" in text.stderr
    assert "bad line" in text.stderr
    assert "warning:" not in text.stdout  # stdout is the diff alone, fit for a pipe


def test_notify_writes_notices_and_says_what_it_left_out(tmp_path: Path) -> None:
    owners = tmp_path / "owners.csv"
    owners.write_text("cidr,owner,contact\n53.10.0.0/16,Klinikum,pacs@klinikum.example\n")
    done = run("notify", fx.write_new(tmp_path), "--owners", owners, "-o", tmp_path / "n")
    assert done.returncode == 0, done.stderr
    assert str(tmp_path / "n" / "klinikum.md") in done.stdout.splitlines()
    assert "4 notices for 10 services; 4 services below medium left out" in done.stderr
