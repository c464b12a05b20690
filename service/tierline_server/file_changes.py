"""Files a running server reads again when they change (TLS files, the callers file): what
tells a change, and how often it is looked for.

Secrets are rotated by replacing files in place (cert-manager, Vault agents), and a Kubernetes
Secret volume swaps a symbolic link: the inode, modification time and size of the file a path
leads to tell every one of these apart.
"""

from __future__ import annotations

import os
from pathlib import Path

CHECK_SECONDS = 1.0
"""How often the files are looked at (a stat each), at most: a change shows within this."""

FileStat = tuple[int, int, int] | None
"""Inode, modification time (ns) and size of the file a path leads to; None if unreadable."""


def file_stat(path: str | Path) -> FileStat:
    """What changes when the file at ``path`` is written or replaced (links followed)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size
