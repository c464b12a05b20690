"""The benchmark's modules import each other as top-level modules, as their scripts run them."""

from __future__ import annotations

import sys

from support.paths import REPO

sys.path.insert(0, str(REPO / "bench"))
