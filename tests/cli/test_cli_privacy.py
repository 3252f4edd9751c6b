"""The privacy stage through the CLI: --members/--nonmembers files, the zoo's own splits,
--skip privacy, the gate metrics, and bad membership files (exit 2, one line, nothing
written)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.core.result import AuditResult
from harness.models import get_reference
from harness.models.tasks import load_task

CNN = get_reference("cnn").onnx_path
OTHER_STAGES = ["--skip", "efficiency", "--skip", "explanations", "--skip", "attention"]


def _files(folder: Path, members: int = 120, nonmembers: int = 120, labels: bool = True):
    task = load_task("digits")
    pixels, y = task.train["pixels"], task.y_train
    tests, y_test = task.test["pixels"], task.y_test
    m_arrays = {"pixels": pixels[:members]} | ({"labels": y[:members]} if labels else {})
    n_arrays = {"pixels": tests[:nonmembers]} | ({"labels": y_test[:nonmembers]} if labels else {})
    np.savez(folder / "members.npz", **m_arrays)
    np.savez(folder / "nonmembers.npz", **n_arrays)
    return folder / "members.npz", folder / "nonmembers.npz"


def _audit(args: list[str], out: Path) -> int:
    return main(["audit", *args, "--out", str(out), "--quiet", "--budget", "quick", *OTHER_STAGES])


@pytest.mark.slow
def test_member_files_are_attacked_and_the_result_reads_back(tmp_path: Path) -> None:
    members, nonmembers = _files(tmp_path)
    out = tmp_path / "audit"
    code = _audit([str(CNN), "--members", str(members), "--nonmembers", str(nonmembers)], out)
    assert code == 0
    result = AuditResult.read(out / "result.json")  # schema-checked on the way in
    section = result.privacy
    assert section.status == "ok" and section.source == "files"
    assert (section.members, section.nonmembers, section.labelled) == (120, 120, True)
    assert [a.name for a in section.attacks] == [
        "loss", "confidence", "entropy", "modified_entropy", "qmia"
    ]  # fmt: skip
    qmia = section.attack("qmia")
    assert qmia is not None and qmia.status == "ok"  # 60 non-members per fold: enough
    for attack in section.attacks:
        assert attack.separation is not None
        assert all(not point.estimable for point in attack.separation.points)  # 120 < 1000
        assert all(0 <= r.index < 120 for r in attack.exposed)
    assert len(section.slices) == 10
    page = (out / "report.html").read_text()
    assert 'id="stage-privacy"' in page and "not estimable" in page
    assert "privacy-roc" in page


@pytest.mark.slow
def test_zoo_model_is_attacked_on_its_own_splits_and_gated(tmp_path: Path) -> None:
    out = tmp_path / "audit"
    assert _audit(["ref:cnn"], out) == 0
    data = json.loads((out / "result.json").read_text())
    section = data["privacy"]
    assert section["source"] == "task"
    assert section["members_available"] == 1437 and section["nonmembers_available"] == 360
    assert section["members"] == 500  # the quick budget's cap, a seeded random subset
    assert "all members" in section["not_done"]
    gate = main(
        ["gate", str(out / "result.json"), str(out / "result.json"), "--quiet",
         "--check", "privacy.loss.auc:0.05"]
    )  # fmt: skip
    assert gate == 0


def test_skip_privacy_reads_no_membership_file(tmp_path: Path) -> None:
    # The files do not exist: with the stage skipped, nobody opens them.
    out = tmp_path / "audit"
    args = [str(CNN), "--members", "nope.npz", "--nonmembers", "nope2.npz", "--skip", "privacy"]
    assert _audit(args, out) == 0
    section = json.loads((out / "result.json").read_text())["privacy"]
    assert (section["status"], section["reason"]) == ("skipped", "skipped by --skip")


def test_a_model_without_known_members_is_skipped_with_the_reason(tmp_path, shelf) -> None:
    out = tmp_path / "audit"
    assert _audit([str(shelf.get("tiny_cnn"))], out) == 0
    section = json.loads((out / "result.json").read_text())["privacy"]
    assert section["status"] == "skipped"
    assert "--members FILE --nonmembers FILE" in section["reason"]


def _rejected(args: list[str], tmp_path: Path, capsys, *needles: str) -> None:
    before = set(tmp_path.iterdir())
    code = _audit(args, tmp_path / "audit")
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    for needle in needles:
        assert needle in err
    assert set(tmp_path.iterdir()) == before  # nothing written


def test_members_without_nonmembers_is_a_usage_error(tmp_path, capsys) -> None:
    members, _ = _files(tmp_path)
    _rejected([str(CNN), "--members", str(members)], tmp_path, capsys, "--nonmembers", "both")


def test_missing_membership_file(tmp_path, capsys) -> None:
    members, _ = _files(tmp_path)
    args = [str(CNN), "--members", str(members), "--nonmembers", str(tmp_path / "gone.npz")]
    _rejected(args, tmp_path, capsys, "--nonmembers file", "does not exist")


def test_labels_in_one_file_only(tmp_path, capsys) -> None:
    members, _ = _files(tmp_path)
    task = load_task("digits")
    np.savez(tmp_path / "unlabelled.npz", pixels=task.test["pixels"][:50])
    args = [str(CNN), "--members", str(members), "--nonmembers", str(tmp_path / "unlabelled.npz")]
    _rejected(args, tmp_path, capsys, "only --members holds 'labels'")


def test_too_few_records(tmp_path, capsys) -> None:
    members, nonmembers = _files(tmp_path, members=5)
    args = [str(CNN), "--members", str(members), "--nonmembers", str(nonmembers)]
    _rejected(args, tmp_path, capsys, "--members members.npz holds 5 record(s)", "at least 20")


def test_wrong_input_shape_names_the_flag(tmp_path, capsys) -> None:
    _, nonmembers = _files(tmp_path)
    np.savez(tmp_path / "flat.npz", pixels=np.zeros((30, 784), dtype=np.float32))
    args = [str(CNN), "--members", str(tmp_path / "flat.npz"), "--nonmembers", str(nonmembers)]
    _rejected(args, tmp_path, capsys, "input 'pixels' expects 4 dims", "--members gives 2")


def test_an_unknown_array_in_a_membership_file(tmp_path, capsys) -> None:
    members, _ = _files(tmp_path)
    task = load_task("digits")
    np.savez(tmp_path / "extra.npz", pixels=task.test["pixels"][:30], ids=np.arange(30))
    args = [str(CNN), "--members", str(members), "--nonmembers", str(tmp_path / "extra.npz")]
    _rejected(args, tmp_path, capsys, "holds 'ids'", "allowed: pixels, labels")


def test_labels_beyond_the_models_classes(tmp_path, capsys) -> None:
    task = load_task("digits")
    np.savez(tmp_path / "m.npz", pixels=task.train["pixels"][:30], labels=np.full(30, 12))
    np.savez(tmp_path / "n.npz", pixels=task.test["pixels"][:30], labels=task.y_test[:30])
    args = [str(CNN), "--members", str(tmp_path / "m.npz"), "--nonmembers", str(tmp_path / "n.npz")]
    _rejected(args, tmp_path, capsys, "--members labels reach 12", "10 classes")


def test_a_model_fixed_at_batch_one_is_fed_record_by_record(tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(CNN))
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = 1  # replaces the symbolic "batch"
    fixed = tmp_path / "fixed.onnx"
    onnx.save(model, str(fixed))
    members, nonmembers = _files(tmp_path, members=25, nonmembers=33)
    out = tmp_path / "audit"
    assert (
        _audit([str(fixed), "--members", str(members), "--nonmembers", str(nonmembers)], out) == 0
    )
    section = json.loads((out / "result.json").read_text())["privacy"]
    assert (section["status"], section["members"], section["nonmembers"]) == ("ok", 25, 33)
    loss = next(a for a in section["attacks"] if a["name"] == "loss")
    assert loss["separation"]["members"] == 25
