"""Read a policy's YAML files, keeping the file and line of every mapping.

A policy is one YAML file or a directory of them (``*.yaml`` / ``*.yml``, read in name order,
``tests/`` excluded). Top-level lists (``rules``, ``segments``) are concatenated across files;
any other top-level key may be set in one file only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tierline_server.policy.errors import Location, PolicyError

CONCATENATED_KEYS = frozenset({"rules", "segments"})


class LocatedDict(dict[str, Any]):
    """A YAML mapping that remembers where it started."""

    location: Location


class _LocatingLoader(yaml.SafeLoader):
    """SafeLoader (no tags that build objects, so a policy never runs code) with locations."""

    source_name = "<policy>"

    def construct_located_mapping(self, node: yaml.MappingNode) -> LocatedDict:
        mapping = LocatedDict()
        mapping.location = Location(self.source_name, node.start_mark.line + 1)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise PolicyError(
                    Location(self.source_name, key_node.start_mark.line + 1),
                    "yaml",
                    f"mapping keys must be strings, not {key!r}",
                )
            if key in mapping:
                raise PolicyError(
                    Location(self.source_name, key_node.start_mark.line + 1),
                    "yaml",
                    f"key {key!r} is given twice",
                )
            mapping[key] = self.construct_object(value_node, deep=True)
        return mapping


_LocatingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _LocatingLoader.construct_located_mapping,
)


@dataclass(frozen=True)
class PolicySource:
    """The merged raw document of a policy and the checksum of the files it came from."""

    document: LocatedDict
    checksum: str
    files: tuple[str, ...]


def policy_files(path: Path) -> list[Path]:
    """The YAML files that make up the policy at ``path``, in the order they are merged."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise PolicyError(Location(str(path), 0), "policy", "no such file or directory")
    files = sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())
    if not files:
        raise PolicyError(Location(str(path), 0), "policy", "no *.yaml files in this directory")
    return files


def parse_text(text: str, name: str) -> LocatedDict:
    """Parse one YAML document, reporting syntax errors as ``name:line: yaml: reason``."""
    loader = _LocatingLoader(text)
    loader.source_name = name
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 0
        raise PolicyError(Location(name, line), "yaml", str(error.problem or error)) from None
    finally:
        loader.dispose()
    if not isinstance(document, LocatedDict):
        raise PolicyError(Location(name, 1), "policy", "a policy file must be a YAML mapping")
    return document


def merge_documents(documents: list[LocatedDict]) -> LocatedDict:
    """Merge per-file documents: lists in CONCATENATED_KEYS are appended, other keys set once."""
    merged = LocatedDict()
    merged.location = documents[0].location
    for document in documents:
        for key, value in document.items():
            if key in CONCATENATED_KEYS:
                if not isinstance(value, list):
                    raise PolicyError(document.location, key, "must be a list")
                merged.setdefault(key, []).extend(value)
            elif key in merged:
                raise PolicyError(document.location, key, "is set in more than one policy file")
            else:
                merged[key] = value
    return merged


def read_policy_source(path: Path) -> PolicySource:
    """Read and merge the policy at ``path`` (a file or a directory)."""
    digest = hashlib.sha256()
    documents = []
    files = policy_files(path)
    for file in files:
        data = file.read_bytes()
        digest.update(file.name.encode() + b"\0" + data)
        documents.append(parse_text(data.decode("utf-8"), str(file)))
    return PolicySource(merge_documents(documents), digest.hexdigest(), tuple(map(str, files)))


def read_policy_text(text: str, name: str = "<candidate>") -> PolicySource:
    """A policy given as text (ValidatePolicy), as one file."""
    checksum = hashlib.sha256(text.encode()).hexdigest()
    return PolicySource(merge_documents([parse_text(text, name)]), checksum, (name,))
