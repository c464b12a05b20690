"""Helpers shared by the integration tests (importable because pytest adds tests/ to sys.path)."""
