"""pyproject.toml as setuptools reads it on every install (make setup, make test, pip)."""

from __future__ import annotations

import warnings

import pytest
from setuptools.config.pyprojecttoml import apply_configuration
from setuptools.dist import Distribution
from support.paths import REPO


def test_the_metadata_applies_without_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """setuptools warned, once per build step, that a table `project.license` is deprecated."""
    monkeypatch.chdir(REPO)  # the readme and package folders are relative to the project
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        distribution = apply_configuration(Distribution(), REPO / "pyproject.toml")
    assert [str(warning.message) for warning in caught] == []
    assert distribution.metadata.license_expression == "Apache-2.0"
    assert "iso4217>=1.16" in distribution.install_requires
