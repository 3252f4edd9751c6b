"""The subcommands, one module each: audit, report (re-render), compare, gate.

Each module's ``run(args) -> int`` does the command ``harness.cli`` parsed and returns its
exit code; ``terminal`` prints progress for those that take a while.
"""
