"""Bounded parsing of untrusted YAML and JSON.

Every body the APIs take, every file the CLI reads and every KDS frame goes
through here. The limits hold before any Python recursion or big-int
arithmetic can happen:

- nesting depth (MAX_DEPTH): PyYAML's composer and `json` recurse per level;
- YAML aliases are refused: an alias bomb of a few hundred bytes expands to
  gigabytes once serialised, and no Kuma resource needs one;
- integers have at most MAX_INT_DIGITS digits (Python's own limit is 4300,
  and a ValueError from there was a 500);
- at most MAX_NODES nodes per document.

A violation is a BadRequest that names the field path and the line.
"""
from __future__ import annotations

import json
import re
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import BadRequest

MAX_DEPTH = 64
MAX_INT_DIGITS = 20  # > 2**64; RSAbits, ports and counts are far below
MAX_NODES = 200_000

_INT_RE = re.compile(r"^[-+]?[0-9_]+$|^[-+]?0x[0-9a-fA-F_]+$|^[-+]?0o?[0-7_]+$|^[-+]?0b[01_]+$")


def _path(parts: list[str]) -> str:
    out = ""
    for p in parts:
        out += p if p.startswith("[") else (f".{p}" if out else p)
    return out or "(document)"


class ParseLimit(BadRequest):
    """A limit of this module was hit; `field` is the path where."""

    def __init__(self, source: str, field_path: str, message: str, line: int | None = None):
        where = f" at line {line}" if line is not None else ""
        super().__init__(f"{source}: {field_path}{where}: {message}")
        self.field = field_path


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer tracks depth, path and node count, and refuses aliases."""

    source = "<input>"

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._parts: list[str] = []
        self._nodes = 0

    def _limit(self, message: str) -> ParseLimit:
        mark = self.peek_event().start_mark
        return ParseLimit(self.source, _path(self._parts), message, mark.line + 1 if mark else None)

    def compose_document(self) -> Node | None:
        self._parts, self._nodes = [], 0
        return super().compose_document()

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            raise self._limit("YAML aliases (*name) are not accepted; write the value out in full")
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise self._limit(f"the document has more than {MAX_NODES} values; split it")
        if len(self._parts) >= MAX_DEPTH and (self.check_event(SequenceStartEvent)
                                              or self.check_event(MappingStartEvent)):
            raise self._limit(f"nesting is deeper than {MAX_DEPTH} levels; no resource needs that")
        event = self.peek_event()
        if isinstance(event, ScalarEvent) and getattr(event, "anchor", None) is None and event.style is None \
                and len(event.value) > MAX_INT_DIGITS and _INT_RE.match(event.value):
            raise self._limit(f"the number has more than {MAX_INT_DIGITS} digits; use a value in range")
        return super().compose_node(parent, index)

    def compose_sequence_node(self, anchor: Any) -> SequenceNode:
        start = self.get_event()
        tag = start.tag
        if tag is None or tag == "!":
            tag = self.resolve(SequenceNode, None, start.implicit)
        node = SequenceNode(tag, [], start.start_mark, None, flow_style=start.flow_style)
        i = 0
        while not self.check_event(yaml.SequenceEndEvent):
            self._parts.append(f"[{i}]")
            node.value.append(self.compose_node(node, i))
            self._parts.pop()
            i += 1
        node.end_mark = self.get_event().end_mark
        return node

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        start = self.get_event()
        tag = start.tag
        if tag is None or tag == "!":
            tag = self.resolve(MappingNode, None, start.implicit)
        node = MappingNode(tag, [], start.start_mark, None, flow_style=start.flow_style)
        while not self.check_event(yaml.MappingEndEvent):
            self._parts.append("?")
            key = self.compose_node(node, None)
            self._parts[-1] = str(key.value) if isinstance(key, ScalarNode) else "?"
            value = self.compose_node(node, key)
            self._parts.pop()
            node.value.append((key, value))
        node.end_mark = self.get_event().end_mark
        return node


def load_yaml_all(text: str, source: str = "<input>") -> list[Any]:
    """Every non-empty document of `text` (YAML, so JSON too), within the limits.
    A JSON text takes the fast path (the C json module); YAML's parser is pure Python."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            doc = loads_json(text, source)
            return [] if doc is None else [doc]
        except ParseLimit:
            raise
        except BadRequest:
            pass  # YAML flow style, e.g. {a: b}: YAML decides
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)  # the reader checks characters here already
        loader.source = source
        docs = []
        while loader.check_data():
            d = loader.get_data()
            if d is not None:
                docs.append(d)
        return docs
    except ParseLimit:
        raise
    except (yaml.YAMLError, ComposerError) as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise BadRequest(f"{source}: cannot parse YAML/JSON{where}: {problem}") from None
    except (ValueError, TypeError, RecursionError) as e:  # e.g. an unhashable key
        raise BadRequest(f"{source}: cannot parse YAML/JSON: {type(e).__name__}") from None
    finally:
        if loader is not None:
            loader.dispose()


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _check_json_depth(text: str, source: str) -> None:
    """Scan brackets outside strings, before json (which recurses) sees the text."""
    depth = 0
    for m in _JSON_TOKENS.finditer(text):
        ch = m.group()
        if ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ParseLimit(source, "(document)", f"nesting is deeper than {MAX_DEPTH} levels")
        elif ch in "]}":
            depth -= 1


def _bounded_int(s: str) -> int:
    if len(s.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"a number has more than {MAX_INT_DIGITS} digits")
    return int(s)


def _bounded_float(s: str) -> float:
    if len(s) > 64:
        raise ValueError("a number has more than 64 characters")
    return float(s)


def loads_json(text: str | bytes, source: str = "<input>") -> Any:
    """json.loads within the depth and number limits; BadRequest otherwise."""
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError:
            raise BadRequest(f"{source}: not UTF-8") from None
    _check_json_depth(text, source)
    try:
        return json.loads(text, parse_int=_bounded_int, parse_float=_bounded_float,
                          parse_constant=_no_constant)
    except ValueError as e:  # JSONDecodeError is a ValueError
        raise BadRequest(f"{source}: not JSON ({e})") from None
    except RecursionError:
        raise BadRequest(f"{source}: nesting too deep") from None


def _no_constant(s: str) -> float:
    raise ValueError(f"{s} is not a JSON number")
