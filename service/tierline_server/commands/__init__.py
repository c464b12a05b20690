"""Subcommands of the ``tierline`` CLI, one module per group."""
