"""Scale-out: audits of many models, and explanations of whole datasets, as work units.

    plan.py       an audit plan (``audit-many PLAN.toml``, or one model with ``--samples all``)
                  -> ``ScalePlan``: the models, each an ``AuditConfig``, and how to shard
    dataset.py    a model's whole dataset (--data, or its task's test split), hashed, sliced
    units.py      the plan cut into deterministic ``WorkUnit``s, each named by a hash of its
                  content (model file hash, settings, shard bounds, seed): one model's intake
                  and efficiency, its explanations, its attention, or, for a dataset, one
                  shard of samples for one attribution method
    work.py       what a worker runs: one unit -> its ``AuditResult`` (as JSON), torch on
                  one thread unless the unit is timed
    store.py      the store folder: each finished unit written atomically, failures by id
    executors.py  inline, a process pool, or Ray (imported only when asked for)
    runner.py     the loop: skip finished units, run the rest, retry a bounded number of
                  times, keep efficiency units alone on their machine, report progress
    aggregate.py  the units -> one ``AuditResult`` per model, the same bytes whichever
                  executor and worker count produced them (merge.py: a dataset's shards)
    summary.py    the summary across models (JSON and a self-contained HTML page)
    scaled.py     start to finish: ``audit_many`` and ``audit_dataset``, their output folders

It sits above ``harness.pipeline`` (each unit is an audit of part of the work) and below
``harness.commands``. Ray is an optional extra, imported only by ``--executor ray``.
"""

from __future__ import annotations

__all__: list[str] = []
