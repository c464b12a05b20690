"""The machine and software a benchmark ran on: one table, the same in every script."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata

from rich.table import Table


def installed(distribution: str) -> str:
    """The installed version of a Python distribution, or 'not installed'."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def tool_version(command: Iterable[str]) -> str:
    """The first line a command-line tool prints about its version, or 'not found'."""
    argv = list(command)
    if shutil.which(argv[0]) is None:
        return "not found"
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (result.stdout or result.stderr).strip().splitlines()[0]


def redis_version() -> str:
    """The redis-server version on PATH."""
    output = tool_version(["redis-server", "--version"])
    return output.split(" v=")[1].split()[0] if " v=" in output else output


def machine_facts(distributions: Iterable[str]) -> dict[str, str]:
    """Python, the versions of ``distributions``, the CPUs and the operating system."""
    usable = len(os.sched_getaffinity(0))
    facts = {
        "Python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        **{name: installed(name) for name in distributions},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs ({usable} usable), "
        f"{platform.platform()}",
    }
    load = os.getloadavg()
    facts["load average at start"] = f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min)"
    return facts


def environment_table(facts: Mapping[str, str]) -> Table:
    """What ran, where, with which settings: one row per fact."""
    table = Table(title="Environment", show_header=False)
    table.add_column("item")
    table.add_column("value")
    for name, value in facts.items():
        table.add_row(name, value)
    return table
