"""The subcommands that read results: report (re-render) and compare."""
