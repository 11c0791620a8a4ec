"""One safe way to read user YAML (scenarios, bills of materials): bounded work, clear errors.

PyYAML's ``safe_load`` is safe against code execution but not against abuse of the format:
a 1 KB document of nested aliases ("billion laughs") expands to billions of nodes for any
code that walks the result; a deeply nested document exhausts Python's recursion; a
repeated mapping key silently keeps the last value. :func:`parse_yaml` composes the node
tree once, with limits checked *while* composing (size of the text, number of aliases,
number of nodes, nesting depth), rejects repeated keys with their line, checks that the tree
expanded through its aliases stays small, and only then builds the Python objects. It
returns the root node too, so callers can map a field back to its line.

:func:`read_text` reads a user file under the same size cap and reports a directory, a
missing file or bytes that are not UTF-8 as input errors naming the file.

Every problem is a :class:`YamlInputError` (an :class:`~oreflow.errors.InputError`, exit
code 2) carrying the source label, the 1-based line (when known) and the rule broken.

Examples
--------
>>> data, node = parse_yaml("a: 1\\nb: [x, y]\\n", source="demo.yaml")
>>> data
{'a': 1, 'b': ['x', 'y']}
>>> parse_yaml("a: 1\\na: 2\\n", source="demo.yaml")
Traceback (most recent call last):
...
oreflow.yamlio.YamlInputError: demo.yaml:2: key 'a' appears more than once (first on line 1)
"""

from __future__ import annotations

import datetime as _dt
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from oreflow.errors import InputError, ValidationError
from oreflow.textfile import decode_utf8, read_limited

__all__ = [
    "MAX_ALIASES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "FieldPath",
    "YamlInputError",
    "key_paths",
    "known_fields",
    "line_map",
    "parse_yaml",
    "read_text",
]

#: Where a value sits in a parsed document: mapping keys and list indices from the root.
FieldPath = tuple[str | int, ...]

#: Largest user YAML file or text accepted [bytes, or characters for text]. The biggest
#: shipped scenario or BOM is under 20 KB; 1 MB leaves room for large BOMs.
MAX_BYTES: int = 1_000_000
#: Most aliases (``*name``) a document may use; shipped files use none.
MAX_ALIASES: int = 100
#: Most nodes (scalars, lists, mappings) a document may hold once its aliases are expanded.
MAX_NODES: int = 500_000
#: Deepest nesting of lists and mappings accepted; shipped files nest at most 6 deep.
MAX_DEPTH: int = 50


class YamlInputError(InputError):
    """A YAML text or file could not be read safely (exit code 2).

    Attributes
    ----------
    source : str
        The file name (or label) as given by the user.
    line : int | None
        1-based line of the problem, ``None`` for a whole-file problem.
    rule : str
        What is wrong, in words.
    """

    def __init__(self, source: str, line: int | None, rule: str) -> None:
        self.source = source
        self.line = line
        self.rule = rule
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {rule}")


class _LimitError(Exception):
    """Raised inside the composer when a limit is broken (turned into a YamlInputError)."""

    def __init__(self, line: int | None, rule: str) -> None:
        super().__init__(rule)
        self.line = line
        self.rule = rule


def _line(mark: Any) -> int | None:
    return None if mark is None else mark.line + 1


class _Loader(yaml.SafeLoader):
    """A SafeLoader that counts while composing and rejects repeated keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _LimitError(_line(event.start_mark),
                         f"more than {MAX_NODES:,} values in the document")
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _LimitError(_line(event.start_mark),
                             f"more than {MAX_ALIASES} aliases (*name) in the document; "
                             "write the values out instead")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _LimitError(_line(event.start_mark),
                             f"lists and mappings nested more than {MAX_DEPTH} deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803
        """Stop at too deep a flow collection (``[[[[…``) while scanning: PyYAML's scanner
        keeps a possible key per open flow level and rescans them all at every token, so
        a thousand open brackets cost seconds before the composer sees any of them."""
        if self.flow_level >= MAX_DEPTH:
            raise _LimitError(_line(self.get_mark()),
                              f"lists and mappings nested more than {MAX_DEPTH} deep")
        super().fetch_flow_collection_start(TokenClass)

    def compose_mapping_node(self, anchor: Any) -> yaml.MappingNode:
        node = super().compose_mapping_node(anchor)
        seen: dict[str, int | None] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.value == "<<":
                continue
            name = str(key.value)
            if name in seen:
                first = seen[name]
                raise _LimitError(_line(key.start_mark),
                             f"key '{name}' appears more than once (first on line {first})")
            seen[name] = _line(key.start_mark)
        return node

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        """A date-like scalar that is not a real date (``2025-02-30``) stays a string, so
        the schema reports it under its field name."""
        try:
            value: _dt.date | _dt.datetime = super().construct_yaml_timestamp(node)
        except ValueError:
            return str(node.value)
        return value


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _expanded_size(root: yaml.Node) -> int:
    """Nodes of the tree with every alias expanded, counted in time linear in the graph
    (shared nodes are counted once per reference without being walked again)."""
    memo: dict[int, int] = {}
    busy: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in memo:
            return memo[key]
        if key in busy:
            raise _LimitError(_line(n.start_mark), "an alias refers to a list or mapping that "
                         "contains it (a cycle)")
        busy.add(key)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(size(c) for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        busy.discard(key)
        memo[key] = total
        return total

    return size(root)


def parse_yaml(text: str, *, source: str = "<string>") -> tuple[Any, yaml.Node | None]:
    """Parse one YAML document safely; return the Python data and the root node.

    Parameters
    ----------
    text : str
        The YAML text (at most :data:`MAX_BYTES` characters).
    source : str
        Name of the file (or a label) used in error messages.

    Returns
    -------
    tuple
        The data (``None`` for an empty document) and the composed root node (``None`` for
        an empty document), whose marks give the line of every key and value.

    Raises
    ------
    YamlInputError
        Text too large, invalid YAML, more than one document, too many aliases or nodes
        (before or after expanding aliases), nesting deeper than :data:`MAX_DEPTH`, or a
        repeated mapping key.
    """
    if len(text) > MAX_BYTES:
        raise YamlInputError(source, None, f"larger than {MAX_BYTES:,} characters; "
                             "split the file or use a CSV")
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:  # a control character in the text
        raise YamlInputError(source, text[: exc.position].count("\n") + 1,
                             f"not valid YAML: character #x{exc.character:04x} is not "
                             "allowed") from None
    try:
        try:
            node = loader.get_single_node()
        except _LimitError as exc:
            raise YamlInputError(source, exc.line, exc.rule) from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            what = exc.problem or exc.context or "invalid YAML"
            raise YamlInputError(source, _line(mark), f"not valid YAML: {what}") from None
        except yaml.reader.ReaderError as exc:  # a control character further on
            raise YamlInputError(source, text[: exc.position].count("\n") + 1,
                                 f"not valid YAML: character #x{exc.character:04x} is not "
                                 "allowed") from None
        except yaml.YAMLError as exc:
            raise YamlInputError(source, None, f"not valid YAML: {exc}") from None
        if node is None:
            return None, None
        try:
            expanded = _expanded_size(node)
        except _LimitError as exc:
            raise YamlInputError(source, exc.line, exc.rule) from None
        if expanded > MAX_NODES:
            raise YamlInputError(source, _line(node.start_mark),
                                 f"the document expands (through its aliases) to more than "
                                 f"{MAX_NODES:,} values; write the values out instead")
        try:
            data = loader.construct_document(node)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            what = exc.problem or exc.context or "invalid YAML"
            raise YamlInputError(source, _line(mark), f"not valid YAML: {what}") from None
        except yaml.YAMLError as exc:
            raise YamlInputError(source, None, f"not valid YAML: {exc}") from None
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. "!!int abc"
            raise YamlInputError(source, None, f"cannot read a value: {exc}") from None
    finally:
        loader.dispose()
    return data, node


def read_text(path: str | Path, *, max_bytes: int = MAX_BYTES, what: str = "file") -> str:
    """Read a user text file as UTF-8 (a leading byte-order mark is dropped).

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    max_bytes : int
        Largest size accepted [bytes].
    what : str
        What the file is, for messages (``"scenario file"``).

    Raises
    ------
    YamlInputError
        No such file, a directory, unreadable, larger than ``max_bytes``, or not UTF-8 text
        (the message gives the line of the first bad byte).
    """
    label = str(path)
    try:
        return decode_utf8(read_limited(Path(path), label=label, max_bytes=max_bytes,
                                        what=what), label)
    except ValidationError as exc:  # not UTF-8: the problem names the line
        (problem,) = exc.problems
        raise YamlInputError(label, problem.line, problem.rule) from None
    except InputError as exc:
        raise YamlInputError(label, None, str(exc).removeprefix(f"{label}: ")) from None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models named anywhere in a type annotation (unions, lists, dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out += [m for m in _models_in(arg) if m not in out]
    return out


def _has_tag(model: type[BaseModel], tag: str) -> bool:
    """True if a ``Literal`` field of ``model`` (a union's discriminator) allows ``tag``."""
    for f in model.model_fields.values():
        if typing.get_origin(f.annotation) is typing.Literal and tag in typing.get_args(
                f.annotation):
            return True
    return False


def known_fields(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Field names (aliases where set) allowed where a pydantic error puts an unknown key.

    ``loc`` is the error's location, ending with the unknown key; it is followed from
    ``model`` through nested models, lists, dicts and tagged unions (a union's tag in the
    location picks its member), so that an unknown-field error can suggest the nearest
    allowed name with :func:`oreflow.errors.did_you_mean`.
    """
    models: list[type[BaseModel]] = [model]
    for part in loc[:-1]:
        if not isinstance(part, str):
            continue
        inner: list[type[BaseModel]] = []
        for m in models:
            for name, f in m.model_fields.items():
                if part in (name, f.alias):
                    inner += [x for x in _models_in(f.annotation) if x not in inner]
        if inner:
            models = inner
            continue
        tagged = [m for m in models if _has_tag(m, part)]
        if tagged:
            models = tagged
        # else a dict key or a pydantic marker: the same models hold the next key
    names: list[str] = []
    for m in models:
        for name, f in m.model_fields.items():
            label = f.alias or name
            if label not in names:
                names.append(label)
    return names


def line_map(node: yaml.Node) -> dict[FieldPath, int]:
    """1-based line of every mapping key and list item of a composed document, by path
    (``()`` the root), so errors found after loading can name their line."""
    out: dict[FieldPath, int] = {(): node.start_mark.line + 1}

    def walk(n: yaml.Node, path: FieldPath) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                p = (*path, str(k.value))
                out[p] = k.start_mark.line + 1
                walk(v, p)
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                p = (*path, i)
                out[p] = v.start_mark.line + 1
                walk(v, p)

    walk(node, ())
    return out


def key_paths(data: Any, key: str) -> list[tuple[FieldPath, Any]]:
    """Every item of a list held under ``key`` anywhere in loaded data, with its path
    (``(..., key, i)``): e.g. each ``source_ids`` entry of a scenario or defaults file."""
    found: list[tuple[FieldPath, Any]] = []

    def walk(x: Any, path: FieldPath) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k == key and isinstance(v, list):
                    found.extend(((*path, k, i), item) for i, item in enumerate(v))
                else:
                    walk(v, (*path, str(k)))
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, (*path, i))

    walk(data, ())
    return found

