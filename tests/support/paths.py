"""Where things are in the repository, for tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_POLICY_DIR = REPO / "rules"
