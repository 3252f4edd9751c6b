"""Audit plans: what a plan file may say, and the units it is cut into."""

from __future__ import annotations

import shutil

import pytest

from harness.core.errors import UsageError
from harness.scale.dataset import shard_bounds
from harness.scale.plan import read_plan
from harness.scale.units import cut_plan
from tests.scale.conftest import SAMPLES, write_plan


def _plan(tmp_path, text: str):
    path = tmp_path / "plan.toml"
    path.write_text(text, encoding="utf-8")
    return read_plan(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no models; add one [[models]] table"),
        ("[[models]]\nname = 'x'\n", 'needs model = "FILE.onnx"'),
        ("[extra]\n[[models]]\nmodel = 'a.onnx'\n", "unknown table(s) extra"),
        ("[scale]\nshard_size = 0\n[[models]]\nmodel = 'a.onnx'\n", "shard_size must be"),
        ("[scale]\nretries = 99\n[[models]]\nmodel = 'a.onnx'\n", "retries must be"),
        ("[scale]\nworkers = 2\n[[models]]\nmodel = 'a.onnx'\n", "[scale] unknown key(s) workers"),
        (
            "[[models]]\nmodel = 'a.onnx'\n[[models]]\nmodel = 'b/a.onnx'\n",
            "two models are named 'a'",
        ),
        ("[[models]]\nmodel = 'a.onnx'\nname = '../x'\n", "is not a folder name"),
        ("[[models]]\nmodel = 'a.onnx'\nbudget = 'huge'\n", "model 1 ("),
        ("[[models]]\nmodel = 'a.onnx'\nsamples = 'all'\nskip = ['explanations']\n", "drop one"),
        ("[defaults]\nmodel = 'a.onnx'\n[[models]]\nmodel = 'b.onnx'\n", "belongs to each"),
        ("[[models]\n", "is not valid TOML"),
    ],
)
def test_a_bad_plan_is_one_usage_error_naming_the_plan(tmp_path, text, message):
    with pytest.raises(UsageError) as caught:
        _plan(tmp_path, text)
    line = str(caught.value)
    assert message in line and "\n" not in line
    assert "plan" in line


def test_defaults_apply_to_every_model_and_skip_lists_are_joined(tmp_path):
    plan = _plan(
        tmp_path,
        "[defaults]\nbudget = 'quick'\nskip = ['attention']\nseed = 3\n"
        "[[models]]\nmodel = 'a.onnx'\nskip = ['efficiency']\nseed = 4\n"
        "[[models]]\nmodel = 'ref:cnn'\nname = 'cnn'\n",
    )
    first, second = plan.models
    assert first.config.skip == ("attention", "efficiency") and first.config.seed == 4
    assert first.config.model == str(tmp_path / "a.onnx")  # relative to the plan's folder
    assert second.config.model == "ref:cnn" and second.config.seed == 3
    assert (first.name, second.name) == ("a", "cnn")


def test_shard_bounds_cover_every_sample_once():
    assert shard_bounds(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert shard_bounds(6, 6) == [(0, 6)]


def test_units_are_named_by_content_not_by_where_the_files_lie(tmp_path, tiny_folder):
    here = cut_plan(read_plan(write_plan(tmp_path, tiny_folder)))
    moved_folder = tmp_path / "moved"
    shutil.copytree(tiny_folder, moved_folder)
    (tmp_path / "plan2").mkdir()
    moved = cut_plan(read_plan(write_plan(tmp_path / "plan2", moved_folder)))
    assert [u.id for u in here.units] == [u.id for u in moved.units]
    kinds = [(u.kind, u.method, u.shard) for u in here.units]
    assert kinds == [("intake", None, None)] + [
        ("shard", "saliency", bounds) for bounds in shard_bounds(SAMPLES, 2)
    ]
    assert len({u.id for u in here.units}) == len(here.units)


def test_a_changed_setting_or_dataset_gives_new_unit_ids(tmp_path, tiny_folder):
    base = cut_plan(read_plan(write_plan(tmp_path, tiny_folder)))
    plan_path = write_plan(tmp_path, tiny_folder)
    text = plan_path.read_text().replace('budget = "quick"', 'budget = "quick"\nseed = 7')
    plan_path.write_text(text)
    reseeded = cut_plan(read_plan(plan_path))
    assert not {u.id for u in base.units} & {u.id for u in reseeded.units}


def test_a_missing_model_file_is_refused_before_any_work(tmp_path):
    plan = _plan(tmp_path, "[[models]]\nmodel = 'missing.onnx'\n")
    with pytest.raises(UsageError, match="does not exist"):
        cut_plan(plan)


def test_samples_all_without_data_or_task_is_refused(tmp_path, tiny_folder):
    plan = _plan(
        tmp_path,
        f"[[models]]\nmodel = '{tiny_folder / 'tiny_cnn.onnx'}'\nsamples = 'all'\n",
    )
    with pytest.raises(UsageError, match="pass --data FILE"):
        cut_plan(plan)


def test_every_stage_not_skipped_gets_a_unit_and_a_skipped_one_none(tmp_path, tiny_folder):
    model = tiny_folder / "tiny_cnn.onnx"
    every = cut_plan(_plan(tmp_path, f"[[models]]\nmodel = '{model}'\n"))
    assert [u.kind for u in every.units] == ["efficiency", "explanations", "attention", "privacy"]
    some = cut_plan(_plan(tmp_path, f"[[models]]\nmodel = '{model}'\nskip = ['privacy']\n"))
    assert "privacy" not in [u.kind for u in some.units]
    # each unit audits its own stage and skips the others
    privacy = every.units[-1].audit_config()
    assert privacy.skip == ("efficiency", "explanations", "attention")
