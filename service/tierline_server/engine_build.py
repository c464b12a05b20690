"""Build and install the rule engine, durable-rules 2.0.28, for the Python that runs this module.

durable-rules 2.0.28 (2020, its last release) is published as source only, so pip compiles its C
extension on every Python. That source calls ``PyEval_CallObject``, which CPython 3.13 removed
from its C API: built as it is on 3.13, the extension fails to import ("undefined symbol"), and
compilers that reject implicit declarations (GCC 14) refuse to build it at all. On 3.13 and
newer this module builds the official source with that one name defined to its replacement,
``PyObject_CallObject`` (the same call for the argument tuples the engine passes); below 3.13 it
builds the source as it is. Either way pip checks the source archive against its published
sha256 before building, and the wheel goes to a wheel directory from which it is installed (a
second run with the same directory reuses it).

It needs nothing but the standard library and pip: ``make setup`` runs it before Tierline's
dependencies are installed, and anyone else runs ``python -m tierline_server.engine_build``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

MODULE = "tierline_server.engine_build"
"""This module's name, also when it runs as ``python -m`` (where ``__name__`` is ``__main__``)."""

ENGINE = "durable-rules"
VERSION = "2.0.28"

SDIST_SHA256 = "053b26f5e48d312d4fa27995243f954671be6eece477f150c059c364eb4d7d61"
"""sha256 of durable_rules-2.0.28.tar.gz, the release's only file, as PyPI publishes it
(https://pypi.org/simple/durable-rules/, uploaded 2020-06-07)."""

RENAMED_FROM = (3, 13)
"""The first CPython without ``PyEval_CallObject``."""

RENAME = "-DPyEval_CallObject=PyObject_CallObject"
"""A preprocessor definition, so the official archive is built unchanged on disk. It goes in
CPPFLAGS because the engine's setup.py overwrites CFLAGS; setuptools adds CPPFLAGS to every
compile."""


class BuildFailed(Exception):
    """The engine could not be built, installed or imported; the message says which."""


def needs_rename(version: tuple[int, int] = sys.version_info[:2]) -> bool:
    """Whether the engine's source is built with the rename on this Python (major, minor)."""
    return version >= RENAMED_FROM


def preprocessor_flags(version: tuple[int, int] = sys.version_info[:2]) -> str:
    """The CPPFLAGS the engine is built with on this Python (with any already set kept)."""
    flags = os.environ.get("CPPFLAGS", "").split()
    if needs_rename(version):
        flags.append(RENAME)
    return " ".join(flags)


def wheel_pattern() -> str:
    """The name pattern of an engine wheel built for this interpreter."""
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    return f"durable_rules-{VERSION}-{tag}-{tag}{sys.abiflags}-*.whl"


def cached_wheel(wheel_dir: Path) -> Path | None:
    """The engine wheel for this interpreter in ``wheel_dir``, if one was built there."""
    return next(iter(sorted(wheel_dir.glob(wheel_pattern()))), None)


def _pip(*args: str, env: dict[str, str] | None = None) -> None:
    command = [sys.executable, "-m", "pip", "--quiet", *args]
    if subprocess.run(command, env=env, check=False).returncode != 0:
        raise BuildFailed(f"`{shlex.join(command)}` failed (pip's output is above)")


def build(wheel_dir: Path) -> Path:
    """Build the engine wheel from the official source archive, its hash checked, into a dir."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        # pip checks hashes given in a requirements file only.
        requirements = Path(scratch) / "engine.txt"
        requirements.write_text(f"{ENGINE}=={VERSION} --hash=sha256:{SDIST_SHA256}\n")
        _pip(
            "wheel",
            "--no-deps",
            "--no-binary",
            ENGINE,
            # pip's own cache may hold a wheel of the same archive built without the rename.
            "--no-cache-dir",
            "--require-hashes",
            "--requirement",
            str(requirements),
            "--wheel-dir",
            str(wheel_dir),
            env={**os.environ, "CPPFLAGS": preprocessor_flags()},
        )
    wheel = cached_wheel(wheel_dir)
    if wheel is None:
        raise BuildFailed(f"pip built no {wheel_pattern()} in {wheel_dir}")
    return wheel


def install(wheel: Path) -> None:
    """Install the wheel in place of whatever engine is installed, then check that it imports."""
    _pip("install", "--no-deps", "--no-index", "--force-reinstall", str(wheel))
    probe = [sys.executable, "-c", "import durable_rules_engine"]
    result = subprocess.run(probe, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no output"
        raise BuildFailed(f"{wheel.name} was installed but does not import: {reason}")


def install_command() -> str:
    """The command line that installs the engine for the running Python."""
    return f"{shlex.quote(sys.executable)} -m {MODULE}"


def main(argv: Sequence[str] | None = None) -> int:
    """Build (or reuse) the engine wheel for this Python and install it; exit 1 with one line."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description=f"Build {ENGINE} {VERSION} from its official source for this Python and "
        "install it.",
    )
    parser.add_argument(
        "--wheel-dir",
        type=Path,
        help="keep the wheel here and reuse it on later runs (default: a temporary directory)",
    )
    args = parser.parse_args(argv)
    python = f"Python {sys.version.split()[0]}"
    try:
        with tempfile.TemporaryDirectory() as scratch:
            wheel_dir: Path = args.wheel_dir or Path(scratch)
            wheel = cached_wheel(wheel_dir)
            if wheel is None:
                how = ", PyEval_CallObject renamed" if needs_rename() else ""
                print(f"engine: building {ENGINE} {VERSION} for {python} (sha256 checked{how})")
                wheel = build(wheel_dir)
            install(wheel)
    except BuildFailed as error:
        print(f"error: {ENGINE} {VERSION} for {python}: {error}", file=sys.stderr)
        return 1
    print(f"engine: {ENGINE} {VERSION} installed for {python} from {wheel.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
