"""Building the rule engine for the running Python: the rename, the hash check, the wheel cache.

The build itself (download, compile, install, import) runs for real in ``make setup`` on every
interpreter CI uses; these tests need no network.
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest
from tierline_server import engine_build


@pytest.mark.parametrize(
    ("version", "renamed"),
    [((3, 10), False), ((3, 12), False), ((3, 13), True), ((3, 14), True)],
)
def test_the_call_is_renamed_from_python_313_on(version: tuple[int, int], renamed: bool) -> None:
    """3.13 removed PyEval_CallObject: from there on the engine is built with the rename."""
    assert engine_build.needs_rename(version) is renamed
    flags = engine_build.preprocessor_flags(version).split()
    assert ("-DPyEval_CallObject=PyObject_CallObject" in flags) is renamed


def test_preprocessor_flags_already_set_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPPFLAGS the user needs (include paths, say) still reaches the compiler."""
    monkeypatch.setenv("CPPFLAGS", "-I/opt/include -DNDEBUG")
    assert engine_build.preprocessor_flags((3, 12)) == "-I/opt/include -DNDEBUG"
    assert engine_build.preprocessor_flags((3, 13)) == (
        "-I/opt/include -DNDEBUG -DPyEval_CallObject=PyObject_CallObject"
    )


def test_a_wheel_is_reused_only_for_the_python_it_was_built_for(tmp_path: Path) -> None:
    """The wheel directory may hold wheels of other Pythons; only this one's is taken."""
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    other = "cp39" if tag != "cp39" else "cp310"
    (tmp_path / f"durable_rules-2.0.28-{other}-{other}-linux_x86_64.whl").touch()
    (tmp_path / f"durable_rules-2.0.27-{tag}-{tag}-linux_x86_64.whl").touch()
    assert engine_build.cached_wheel(tmp_path) is None
    mine = tmp_path / f"durable_rules-2.0.28-{tag}-{tag}{sys.abiflags}-linux_x86_64.whl"
    mine.touch()
    assert engine_build.cached_wheel(tmp_path) == mine


def _archive(path: Path) -> None:
    """A source archive with the engine's name and version but not its content."""
    setup = b"from setuptools import setup\nsetup(name='durable_rules', version='2.0.28')\n"
    with tarfile.open(path, "w:gz") as archive:
        member = tarfile.TarInfo("durable_rules-2.0.28/setup.py")
        member.size = len(setup)
        archive.addfile(member, io.BytesIO(setup))


def test_a_source_archive_other_than_the_published_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Nothing is built or installed from an archive whose sha256 is not PyPI's; one error line."""
    index = tmp_path / "index"
    index.mkdir()
    _archive(index / "durable_rules-2.0.28.tar.gz")
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip finds the archive above and nothing else
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    wheels = tmp_path / "wheels"

    assert engine_build.main(["--wheel-dir", str(wheels)]) == 1

    out, err = capfd.readouterr()
    assert "DO NOT MATCH THE HASHES" in out + err  # refused for its hash, not for another reason
    assert engine_build.SDIST_SHA256 in out + err
    assert not list(wheels.iterdir())
    ours = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(ours) == 1
    assert "durable-rules 2.0.28" in ours[0]
