"""``python -m harness report``: re-rendering from result.json alone."""

from __future__ import annotations

import json

from harness.cli import main


def audited(shelf, tmp_path):
    out = tmp_path / "audit"
    args = ["audit", str(shelf.get("tiny_cnn")), "--out", str(out), "--quiet", "--budget",
            "quick", "--skip", "efficiency", "--skip", "explanations"]  # fmt: skip
    assert main(args) == 0
    return out


def test_rerender_without_the_model_matches_the_audit(shelf, tmp_path, capsys):
    out = audited(shelf, tmp_path)
    original = (out / "report.html").read_text()
    (out / "report.html").unlink()
    assert main(["report", str(out / "result.json")]) == 0
    assert (out / "report.html").read_text() == original
    assert "wrote" in capsys.readouterr().out


def test_rerender_to_another_file(shelf, tmp_path):
    out = audited(shelf, tmp_path)
    target = tmp_path / "copy.html"
    assert main(["report", str(out / "result.json"), "-o", str(target)]) == 0
    assert target.read_text() == (out / "report.html").read_text()


def test_bad_results_exit_2_with_one_line(tmp_path, capsys):
    (tmp_path / "not.json").write_text("{broken")
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"schema_version": 99}))
    cases = [
        (tmp_path / "missing.json", "does not exist"),
        (tmp_path / "not.json", "not valid JSON"),
        (newer, "newer than this harness reads"),
    ]
    for path, needle in cases:
        assert main(["report", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["newer.json", "not.json"]


def test_output_into_a_missing_folder_or_onto_a_folder_exits_2(shelf, tmp_path, capsys):
    result = audited(shelf, tmp_path) / "result.json"
    capsys.readouterr()  # the audit's own stderr (its verdict line)
    for target, needle in ((tmp_path / "nowhere" / "r.html", "does not exist"),
                           (tmp_path, "is a folder")):  # fmt: skip
        assert main(["report", str(result), "-o", str(target)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err
    assert not (tmp_path / "nowhere").exists()
