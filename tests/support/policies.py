"""Candidate policies for tests: the default policy with one change, written where a test wants
it."""

from __future__ import annotations

from pathlib import Path

from support.paths import DEFAULT_POLICY_DIR

DEFAULT_VERSION = "2026.11.1"
FREE_SHIPPING = "order_value: {gte: {EUR: 50,"
"""The start of the default policy's free-shipping threshold on the order value."""


def raised_threshold(directory: Path, euros: int = 75, version: str = "2026.12.0") -> Path:
    """The default policy where free shipping starts at ``euros`` rather than 50.00 (other
    currencies unchanged), as version ``version``: written to ``directory``/candidate (made, or
    overwritten file by file, the rules first)."""
    candidate = directory / "candidate"
    candidate.mkdir(exist_ok=True)
    for name, old, new in (
        ("entitlements.yaml", FREE_SHIPPING, f"order_value: {{gte: {{EUR: {euros},"),
        ("policy.yaml", f'version: "{DEFAULT_VERSION}"', f'version: "{version}"'),
    ):
        text = (DEFAULT_POLICY_DIR / name).read_text()
        assert old in text, f"the default {name} no longer has {old!r}"
        (candidate / name).write_text(text.replace(old, new))
    return candidate
