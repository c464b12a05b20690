"""Helpers shared by the tests (importable because pytest adds tests/ to sys.path)."""
