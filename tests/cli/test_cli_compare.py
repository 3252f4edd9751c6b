"""``python -m harness compare A B``: one page from two result.json files, or one line and
exit 2 with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main

PLOTLY_MARKER = "* plotly.js v"


@pytest.fixture(scope="module")
def audited(shelf, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One quick audit with efficiency measured: its result.json."""
    out = tmp_path_factory.mktemp("compare") / "audit"
    args = ["audit", str(shelf.get("tiny_cnn")), "--out", str(out), "--quiet", "--budget",
            "quick", "--skip", "explanations", "--skip", "attention"]  # fmt: skip
    assert main(args) == 0
    return out / "result.json"


def copy_of(result: Path, folder: Path) -> Path:
    folder.mkdir()
    target = folder / "result.json"
    target.write_text(result.read_text())
    return target


def test_compare_writes_diff_beside_b(audited: Path, tmp_path: Path, capsys) -> None:
    b = copy_of(audited, tmp_path / "b")
    assert main(["compare", str(audited), str(b)]) == 0
    written = tmp_path / "b" / "diff.html"
    assert capsys.readouterr().out.strip() == f"wrote {written}"
    html = written.read_text()
    assert "<title>A/B comparison: tiny_cnn vs tiny_cnn</title>" in html
    assert "The same model file" in html
    assert "0 regressions, 0 improvements" in html
    assert html.count(PLOTLY_MARKER) == 1
    assert 'id="fig-compare-run0-latency"' in html
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["diff.html", "result.json"]


def test_compare_to_a_named_file(audited: Path, tmp_path: Path) -> None:
    target = tmp_path / "ab.html"
    assert main(["compare", str(audited), str(audited), "-o", str(target)]) == 0
    assert target.read_text().rstrip().endswith("</html>")


def test_bad_results_exit_2_with_one_line_and_write_nothing(audited, tmp_path, capsys) -> None:
    (tmp_path / "not.json").write_text("{broken")
    (tmp_path / "newer.json").write_text(json.dumps({"schema_version": 99}))
    (tmp_path / "other.json").write_text(json.dumps({"schema_version": 1, "model": {}}))
    cases = [
        (tmp_path / "missing.json", "does not exist"),
        (tmp_path / "not.json", "not valid JSON"),
        (tmp_path / "newer.json", "newer than this harness reads"),
        (tmp_path / "other.json", "does not match schema version"),
    ]
    for path, needle in cases:
        for args in ([str(path), str(audited)], [str(audited), str(path)]):
            assert main(["compare", *args]) == 2
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1 and needle in err, err
            assert err.startswith("ResultFormatError: ") and str(path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["newer.json", "not.json", "other.json"]
    assert not (audited.parent / "diff.html").exists()


def test_bad_output_exits_2(audited: Path, tmp_path: Path, capsys) -> None:
    b = copy_of(audited, tmp_path / "b")
    cases = [
        (tmp_path / "nowhere" / "d.html", "does not exist"),
        (tmp_path, "is a folder"),
        (b, "is one of the results it reads"),
    ]
    for target, needle in cases:
        assert main(["compare", str(audited), str(b), "-o", str(target)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, err
    assert b.read_text() == audited.read_text()
    assert not (tmp_path / "nowhere").exists()
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["result.json"]


def test_compare_needs_two_results(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "only.json"])
    assert exit_info.value.code == 2
    assert "required: B" in capsys.readouterr().err
