"""Read a policy's YAML files, keeping the file and line of every mapping.

A policy is one YAML file or a directory of them (``*.yaml`` / ``*.yml``, read in name order,
``tests/`` excluded). Top-level lists (``rules``, ``segments``) are concatenated across files;
any other top-level key may be set in one file only.

Policy text may come from anyone with admin rights (ValidatePolicy), so reading it is bounded:
its size, its number of values, its nesting, and no anchors or aliases (whose expansion grows
exponentially with the text). Whatever the bytes, the outcome is a policy or a PolicyError at a
line, never another exception.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from tierline_server.policy.errors import Location, PolicyError

try:
    from yaml.cyaml import CParser  # type: ignore[attr-defined]  # re-exported from yaml._yaml
except ImportError as missing:  # only a PyYAML built from source without libyaml lacks it
    raise ImportError(
        "Tierline reads policies with libyaml, which PyYAML's wheels include; this PyYAML was "
        "built without it: reinstall it from a wheel (pip install --force-reinstall pyyaml)"
    ) from missing

CONCATENATED_KEYS = frozenset({"rules", "segments"})

MAX_FILE_BYTES = 512 * 1024
"""Largest policy (or policy test) file read. The default policy's largest file is 6 KB: this
leaves room for thousands of rules, and a directory of files for more."""

MAX_POLICY_BYTES = 1024 * 1024
"""Largest policy, all its files together, and largest candidate text ValidatePolicy takes.
Compiling this much takes a few seconds of CPU with PyYAML's pure-Python parser; nothing larger
is read."""

MAX_VALUES = 100_000
"""Most YAML values (mappings, lists and scalars) in one policy, all its files together. The
default policy has 672; a policy of 1 MiB written like it has about 85,000. Parsing costs per
value, not per byte: without this, 1 MiB of ``[x,x,x,...]`` would parse for a minute.
"""

MAX_NESTING_DEPTH = 64
"""Deepest nesting of mappings and lists. A condition nested 30 levels deep fits; deeper text
would only exhaust the parser's recursion."""


class _Mark(Protocol):
    """A position in YAML text (PyYAML's Python code and its libyaml binding each have a Mark
    class)."""

    line: int


_ALIASES = "anchors and aliases are not supported: write each value out"
_TAGS = "tags are not supported: write plain values"


class LocatedDict(dict[str, Any]):
    """A YAML mapping that remembers where it started."""

    location: Location


class ValueBudget:
    """How many more YAML values may be read: one budget for all the files of a policy."""

    def __init__(self, limit: int = MAX_VALUES) -> None:
        self.limit = limit
        self.remaining = limit

    def spend(self, location: Location) -> None:
        """Count one value; PolicyError at ``location`` once the budget is exceeded."""
        self.remaining -= 1
        if self.remaining < 0:
            raise PolicyError(
                location, "yaml", f"more than {self.limit:,} values (mappings, lists and scalars)"
            )


class _LocatingLoader(Composer, CParser, SafeConstructor, Resolver):
    """PyYAML's safe loader (no tags that build objects, so a policy never runs code) with
    locations, a budget of values, bounded nesting, and no anchors, aliases or explicit tags
    (``!!int``, ``!!binary``: a policy needs plain values only, and PyYAML's constructors fail
    on some tagged ones with any exception).

    Events come from libyaml's parser (C, bundled with PyYAML's wheels): PyYAML's own parser
    spends tens of microseconds per value in Python. The composer above it is PyYAML's, in
    Python, so that every node passes the checks of ``compose_node`` before it exists.
    """

    def __init__(self, text: str, name: str, budget: ValueBudget) -> None:
        CParser.__init__(self, text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.source_name = name
        self.budget = budget
        self.depth = 0

    def location(self, mark: _Mark | None) -> Location:
        """Where ``mark`` is, as a file and a 1-based line (0 when unknown)."""
        return Location(self.source_name, mark.line + 1 if mark else 0)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Compose one node, refusing anchors, aliases, tags, nesting past MAX_NESTING_DEPTH and
        values past the budget.

        Checked on the event before it is composed: an alias bomb is refused at its first
        anchor, and 5,000 nested brackets at the 65th, long before the parser's recursion.
        Anchors are refused, not expanded under a budget: a policy has no need for them.
        """
        event = self.peek_event()
        if not isinstance(event, yaml.NodeEvent):  # the composer asks only when a node follows
            return super().compose_node(parent, index)
        if event.anchor is not None:
            sign = "*" if isinstance(event, yaml.AliasEvent) else "&"
            raise PolicyError(
                self.location(event.start_mark), "yaml", f"{_ALIASES} (found {sign}{event.anchor})"
            )
        tag = getattr(event, "tag", None)  # scalars and collections have one, aliases not
        if tag is not None:
            raise PolicyError(self.location(event.start_mark), "yaml", f"{_TAGS} (found {tag})")
        self.budget.spend(self.location(event.start_mark))
        if not isinstance(event, yaml.CollectionStartEvent):
            return super().compose_node(parent, index)
        if self.depth >= MAX_NESTING_DEPTH:
            raise PolicyError(
                self.location(event.start_mark),
                "yaml",
                f"nested more than {MAX_NESTING_DEPTH} mappings or lists deep",
            )
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Construct a value; one that does not convert (a 13th month, a 5,000-digit integer)
        is a PolicyError at its line."""
        try:
            return super().construct_object(node, deep)
        except ValueError as error:
            raise PolicyError(
                self.location(node.start_mark), "yaml", f"cannot read this value: {error}"
            ) from None

    def construct_located_mapping(self, node: yaml.MappingNode) -> LocatedDict:
        mapping = LocatedDict()
        mapping.location = self.location(node.start_mark)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise PolicyError(
                    self.location(key_node.start_mark),
                    "yaml",
                    f"mapping keys must be strings, not {key!r}",
                )
            if key in mapping:
                raise PolicyError(
                    self.location(key_node.start_mark), "yaml", f"key {key!r} is given twice"
                )
            mapping[key] = self.construct_object(value_node, deep=True)
        return mapping


_LocatingLoader.add_constructor(  # type: ignore[type-var]  # the stubs know PyYAML's loaders only
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
    try:
        if path.is_file():
            return [path]
        if not path.is_dir():
            raise PolicyError(Location(str(path), 0), "policy", "no such file or directory")
        files = sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())
    except OSError as error:  # e.g. a directory we may not list
        raise PolicyError(Location(str(path), 0), "file", _cannot_read(error)) from None
    if not files:
        raise PolicyError(Location(str(path), 0), "policy", "no *.yaml files in this directory")
    return files


def read_file(file: Path) -> bytes:
    """The bytes of a policy (or policy test) file: at most MAX_FILE_BYTES, read no further."""
    try:
        with file.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise PolicyError(Location(str(file), 0), "file", _cannot_read(error)) from None
    if len(data) > MAX_FILE_BYTES:
        raise PolicyError(
            Location(str(file), 0),
            "file",
            f"larger than {_size(MAX_FILE_BYTES)}, the most a policy file may be",
        )
    return data


def decode(data: bytes, name: str) -> str:
    """The text of a file's bytes, which must be UTF-8; otherwise a PolicyError at the line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise PolicyError(
            Location(name, line),
            "yaml",
            f"not UTF-8 text (byte 0x{data[error.start]:02x}): save the file as UTF-8",
        ) from None


def load_yaml(text: str, name: str, budget: ValueBudget | None = None) -> Any:
    """Parse one YAML document with locations; every problem is ``name:line: yaml: reason``.

    ``budget`` is shared by the documents of one policy; by default the document has its own.
    """
    loader = _LocatingLoader(text, name, budget or ValueBudget())
    try:
        return loader.get_single_data()
    except yaml.reader.ReaderError as error:  # libyaml counts its position in UTF-8 bytes
        line = text.encode()[: error.position].count(b"\n") + 1
        reason = f"character #x{error.character:04x} is not allowed: {error.reason}"
        raise PolicyError(Location(name, line), "yaml", reason) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise PolicyError(loader.location(mark), "yaml", str(error.problem or error)) from None
    finally:
        loader.dispose()


def parse_text(text: str, name: str, budget: ValueBudget | None = None) -> LocatedDict:
    """Parse one policy file's YAML, which must be a mapping."""
    document = load_yaml(text, name, budget)
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
    files = policy_files(path)
    contents: list[bytes] = []
    for file in files:  # every size is checked before anything is parsed
        contents.append(read_file(file))
        if sum(map(len, contents)) > MAX_POLICY_BYTES:
            raise PolicyError(
                Location(str(file), 0),
                "policy",
                f"the policy's files come to more than {_size(MAX_POLICY_BYTES)} with this one",
            )
    digest = hashlib.sha256()
    documents = []
    budget = ValueBudget()
    for file, data in zip(files, contents, strict=True):
        digest.update(file.name.encode() + b"\0" + data)
        documents.append(parse_text(decode(data, str(file)), str(file), budget))
    return PolicySource(merge_documents(documents), digest.hexdigest(), tuple(map(str, files)))


def read_policy_text(text: str, name: str = "<candidate>") -> PolicySource:
    """A policy given as text (ValidatePolicy), as one file."""
    data = text.encode()
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError(Location(name, 0), "policy", f"larger than {_size(MAX_POLICY_BYTES)}")
    checksum = hashlib.sha256(data).hexdigest()
    return PolicySource(merge_documents([parse_text(text, name)]), checksum, (name,))


def _cannot_read(error: OSError) -> str:
    return f"cannot read: {error.strerror or error}"


def _size(limit: int) -> str:
    """A byte count as operators think of it: 512 KiB, 1 MiB."""
    return f"{limit // 1024**2} MiB" if limit % 1024**2 == 0 else f"{limit // 1024} KiB"
