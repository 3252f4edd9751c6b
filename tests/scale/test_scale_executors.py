"""The executors' contracts that need no worker: Ray's resources and its absence."""

from __future__ import annotations

import logging
import re
import sys

import pytest

from harness.core.errors import UsageError
from harness.scale import executors
from harness.scale.executors import NODE_RESOURCE, make_executor
from harness.scale.plan import read_plan
from harness.scale.units import cut_plan
from tests.scale.conftest import write_plan


class _FakeRay:
    """What the Ray executor calls of ``ray``, recorded."""

    def __init__(self, resources: dict[str, float]) -> None:
        self.resources = resources
        self.inits: list[dict] = []
        self.options: list[dict] = []

    def is_initialized(self) -> bool:
        return bool(self.inits)

    def init(self, **settings) -> None:
        self.inits.append(settings)

    def cluster_resources(self) -> dict[str, float]:
        return self.resources

    def shutdown(self) -> None:
        self.inits.clear()

    def remote(self, **settings):
        fake = self

        class Task:
            def options(self, **options):
                fake.options.append(options)
                return self

            def remote(self, unit, *rest):
                return unit.id

        assert settings == {"max_retries": 0}  # retries are the runner's, counted and bounded
        return lambda function: Task()


def test_without_ray_the_ray_executor_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(UsageError, match=r"pip install -e '\.\[ray\]'"):
        make_executor("ray", 2, None)


def test_a_local_ray_offers_the_node_resource_and_timed_units_take_all_of_it(
    monkeypatch, tmp_path, tiny_folder
):
    fake = _FakeRay({NODE_RESOURCE: 1.0, "CPU": 2.0})
    monkeypatch.setattr(executors, "_import_ray", lambda: fake)
    plan = write_plan(tmp_path, tiny_folder)
    plan.write_text(plan.read_text().replace('skip = ["efficiency", "attention", "privacy"]', ""))
    units = cut_plan(read_plan(plan)).units
    executor = make_executor("ray", 2, None)
    assert fake.inits == [
        {
            "num_cpus": 2,
            "resources": {NODE_RESOURCE: 1},
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
        }
    ]
    for unit in units[:2]:
        executor.submit(unit, None, None)
    assert units[0].kind == "efficiency" and units[1].kind == "shard"
    assert [o["resources"][NODE_RESOURCE] for o in fake.options] == [1.0, executors.NODE_SHARE]
    executor.close()
    assert not fake.is_initialized()  # the cluster it started is shut down


def test_a_cluster_without_the_node_resource_is_refused_with_the_command_to_fix_it(monkeypatch):
    fake = _FakeRay({"CPU": 64.0})
    monkeypatch.setattr(executors, "_import_ray", lambda: fake)
    command = """ray start --resources='{"harness_node": 1}'"""
    with pytest.raises(UsageError, match=re.escape(command)):
        make_executor("ray", 4, "head:6379")
    assert fake.inits == []  # closed again: the executor started it, so it shuts it down
