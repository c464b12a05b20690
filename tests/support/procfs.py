"""What the kernel says about a server's processes (/proc), read so that a process that exits
meanwhile (a worker retired by a reload) counts as gone rather than failing the test."""

from __future__ import annotations

from pathlib import Path

_GONE = (FileNotFoundError, ProcessLookupError)
"""What reading /proc/PID raises once PID has exited: ENOENT, or ESRCH mid-exit."""


def children(pid: int) -> list[int]:
    """The process ids of ``pid``'s children."""
    try:
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except _GONE:
        return []
    return [int(child) for child in listed.split()]


def cmdline(pid: int) -> bytes:
    """A process's command line, NUL-separated; empty once it has exited."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except _GONE:
        return b""


def rss_bytes(pid: int) -> int:
    """A process's resident memory; 0 once it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except _GONE:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0  # a zombie has no VmRSS line


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children (a supervisor and its workers)."""
    return sum(rss_bytes(each) for each in [pid, *children(pid)])
