"""Running a plan: inline, in a process pool and on Ray to the same bytes; a killed worker
retried; a stopped run resumed with only its missing units; a unit that keeps failing
reported by id with a partial result."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.scale.plan import read_plan
from harness.scale.runner import ProgressState
from harness.scale.scaled import Execution, ScaleOutcome, audit_many
from harness.scale.store import Store
from harness.scale.units import cut_plan
from tests.scale.conftest import SAMPLES, tree_bytes, write_plan

EPOCH = "1700000000"  # SOURCE_DATE_EPOCH: the stores' creation time, pinned


def _run(plan_path: Path, out: Path, execution: Execution, progress=None) -> ScaleOutcome:
    plan = read_plan(plan_path)
    return audit_many(plan, out, None, execution, progress or (lambda s: None), command="cmd")


def _fault(out: Path, unit_id: str, *faults: str) -> None:
    """Test hook of the store: the next attempts of UNIT_ID meet FAULTS, one each."""
    folder = Store.open(out.with_name(f"{out.name}.units")).root / "faults"
    folder.mkdir(exist_ok=True)
    (folder / unit_id).write_text("\n".join(faults) + "\n", encoding="utf-8")


def _shard_unit(plan_path: Path, start: int) -> str:
    cut = cut_plan(read_plan(plan_path))
    return next(u.id for u in cut.units if u.shard is not None and u.shard[0] == start)


# --- inline (fast) ------------------------------------------------------------------------


def test_a_stopped_run_resumes_with_only_its_missing_units(tmp_path, tiny_folder, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    plan = write_plan(tmp_path, tiny_folder, shard_size=2)
    total = 1 + SAMPLES // 2  # intake, then 3 shards of one method
    finished: list[str] = []

    def stop_after_two(state: ProgressState) -> None:
        if state.event == "done":
            finished.append(state.label)
            if len(finished) == 2:
                raise KeyboardInterrupt  # Ctrl-C in the middle of the run

    with pytest.raises(KeyboardInterrupt) as stopped:
        _run(plan, tmp_path / "out", Execution(), stop_after_two)
    assert stopped.value.__notes__ == [
        f"2 of {total} units are finished and kept in the store '{tmp_path / 'out.units'}'; "
        "run the same command again to resume"
    ]
    store = tmp_path / "out.units"
    assert len(list((store / "units").glob("*.json"))) == 2
    assert not (tmp_path / "out").exists()  # no aggregate from a stopped run

    resumed = _run(plan, tmp_path / "out", Execution())
    assert (resumed.report.total, resumed.report.skipped, resumed.report.ran) == (
        total,
        2,
        total - 2,
    )
    result = json.loads((tmp_path / "out/models/dataset/result.json").read_text())
    assert result["explanations"]["samples"] == SAMPLES
    assert result["verdict"]["status"] != "incomplete"

    # The resumed aggregate is the one an uninterrupted run gives, byte for byte.
    (tmp_path / "fresh").mkdir()
    _run(plan, tmp_path / "fresh/out", Execution())
    assert tree_bytes(tmp_path / "out") == tree_bytes(tmp_path / "fresh/out")


def test_a_unit_failing_every_attempt_is_reported_by_id_and_the_result_is_partial(
    tmp_path, tiny_folder, monkeypatch
):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    plan = write_plan(tmp_path, tiny_folder, shard_size=3, retries=1)
    failing = _shard_unit(plan, 3)
    _fault(tmp_path / "out", failing, "raise", "raise")  # both attempts (1 + 1 retry)

    outcome = _run(plan, tmp_path / "out", Execution())
    assert outcome.partial and list(outcome.report.failed) == [failing]
    assert outcome.report.attempts[failing] == 2
    failure = json.loads((tmp_path / f"out.units/failed/{failing}.json").read_text())
    assert "fault injected" in failure["error"] and failure["attempts"] == 2
    result = json.loads((tmp_path / "out/models/dataset/result.json").read_text())
    assert result["verdict"]["status"] == "incomplete"
    assert result["verdict"]["deciding"][0]["rule"] == "scale.partial"
    saliency = result["explanations"]["methods"][0]
    assert saliency["status"] == "incomplete" and "3-6" in saliency["reason"]
    assert any(failing in note for note in result["notes"])
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["partial"] is True
    assert failing in summary["models"][0]["missing_units"][0]

    # Rerun: only the failed unit runs, and the aggregate is complete.
    again = _run(plan, tmp_path / "out", Execution())
    assert (again.report.ran, again.partial) == (1, False)
    assert not (tmp_path / f"out.units/failed/{failing}.json").exists()
    result = json.loads((tmp_path / "out/models/dataset/result.json").read_text())
    assert result["verdict"]["status"] in ("pass", "pass with warnings")


# --- process pool and Ray (slow: worker processes import torch) ------------------------------


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray cluster of 2 CPUs started by the test (with the per-node resource that
    keeps timed units alone), shut down after."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    ray.init(
        num_cpus=2, resources={"harness_node": 1}, include_dashboard=False, log_to_driver=False
    )
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_inline_process_and_ray_give_byte_identical_aggregates(
    tmp_path, tiny_folder, monkeypatch, local_ray
):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    plan = write_plan(tmp_path, tiny_folder, methods=("saliency", "occlusion"), whole_model=True)
    trees = {}
    for name, execution in {
        "inline": Execution("inline", 1),
        "process-2": Execution("process", 2),
        "ray-2": Execution("ray", 2),
    }.items():
        folder = tmp_path / name
        folder.mkdir()
        outcome = _run(plan, folder / "out", execution)
        assert outcome.report.complete and outcome.report.ran == 9, name
        trees[name] = tree_bytes(folder / "out")
    assert set(trees["inline"]) == {
        "summary.html",
        "summary.json",
        "models/dataset/result.json",
        "models/dataset/report.html",
        "models/whole/result.json",
        "models/whole/report.html",
    }
    for name, tree in trees.items():
        assert tree == trees["inline"], f"{name} differs from inline"


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["process", "ray"])
def test_a_killed_worker_is_retried_and_the_result_is_complete(
    executor, tmp_path, tiny_folder, monkeypatch, request
):
    if executor == "ray":
        request.getfixturevalue("local_ray")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    plan = write_plan(tmp_path, tiny_folder, shard_size=3)
    victim = _shard_unit(plan, 0)
    _fault(tmp_path / "out", victim, "kill")  # its worker's process ends on attempt 1

    outcome = _run(plan, tmp_path / "out", Execution(executor, 2))
    assert outcome.report.attempts[victim] == 2
    assert outcome.report.complete and not outcome.partial
    result = json.loads((tmp_path / "out/models/dataset/result.json").read_text())
    assert result["explanations"]["samples"] == SAMPLES
    assert result["explanations"]["methods"][0]["status"] == "ok"

    (tmp_path / "reference").mkdir()
    _run(plan, tmp_path / "reference/out", Execution())
    assert tree_bytes(tmp_path / "out") == tree_bytes(tmp_path / "reference/out")


def test_store_keeps_finished_units_when_the_output_folder_is_removed(
    tmp_path, tiny_folder, monkeypatch
):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    plan = write_plan(tmp_path, tiny_folder, shard_size=6)
    first = _run(plan, tmp_path / "out", Execution())
    shutil.rmtree(tmp_path / "out")
    second = _run(plan, tmp_path / "out", Execution())
    assert (first.report.ran, second.report.ran, second.report.skipped) == (2, 0, 2)
    assert (tmp_path / "out/models/dataset/report.html").is_file()


class _RecordingExecutor:
    """Runs nothing: finishes units one wait at a time and records what ran beside what."""

    name, slots, drains_for_exclusive, isolation = "fake", 3, True, "fake"

    def __init__(self) -> None:
        self.overlaps: list[tuple[str, ...]] = []  # the kinds in flight at each start

    def submit(self, unit, shard, fault):
        from harness.scale.executors import Running

        running = Running(unit, None)
        self.in_flight = [*getattr(self, "in_flight", []), running]
        self.overlaps.append(tuple(sorted(r.unit.kind for r in self.in_flight)))
        return running

    def wait(self, running, timeout):
        from harness.scale.work import UnitOutput

        first = running[0]
        self.in_flight.remove(first)
        return [(first, UnitOutput(first.unit.id, "{}", 0.0, first.unit.exclusive))]

    def close(self) -> None:
        pass


def test_efficiency_units_run_first_and_alone_on_a_pool(tmp_path, tiny_folder):
    from harness.scale.runner import run_units

    plan_path = write_plan(tmp_path, tiny_folder, whole_model=True)
    plan_path.write_text(
        plan_path.read_text().replace('skip = ["efficiency", "attention", "privacy"]', "")
    )
    cut = cut_plan(read_plan(plan_path))
    executor = _RecordingExecutor()
    report = run_units(cut, Store.open(tmp_path / "store"), executor, retries=0)
    assert report.complete and report.ran == len({u.id for u in cut.units})
    timed = [kinds for kinds in executor.overlaps if "efficiency" in kinds]
    assert timed == [("efficiency",), ("efficiency",)]  # one per model, each alone
    assert executor.overlaps[:2] == timed  # before any other unit
    assert max(len(kinds) for kinds in executor.overlaps) == 3  # the rest share the pool
