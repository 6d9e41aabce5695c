"""Hypothesis strategies for hostile input: JSON-like values as Python's json module can produce them, request
bodies, and values of any Avro schema of the catalogue (what a decoded event can hold)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Every fuzz test: a bounded number of examples, no time limit per example (the first call of a handler may
# warm a cache), and no example database: a failure is reproduced from the explicit examples and the seed
# that pytest prints, not from files left in the working tree.
FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Integers no double (and no Avro long) can hold, on both sides: what a JSON body may carry.
huge_ints = st.builds(
    lambda sign, exponent, offset: sign * 10**exponent + offset,
    st.sampled_from([1, -1]),
    st.integers(15, 420),
    st.integers(-2, 2),
)
numbers: st.SearchStrategy[int | float] = st.one_of(st.integers(), huge_ints, st.floats())

# json.loads turns "\ud800" into a lone surrogate: a string no UTF-8 encoder takes.
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
keys = st.one_of(st.text(max_size=12), any_text)
scalars: st.SearchStrategy[Any] = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=40), any_text)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=5)),
    max_leaves=20,
)
json_objects: st.SearchStrategy[dict[str, Any]] = st.dictionaries(keys, json_values, max_size=8)


def nested(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    """A JSON document nested ``depth`` levels deep: legal JSON, deeper than any parser's stack."""
    return opener * depth + closer * depth


# Bodies as a client may send them: bytes, any JSON (NaN and Infinity included, which Python reads), and
# documents nested deeper than the interpreter's recursion limit.
deep_documents = st.integers(1, 50_000).flatmap(
    lambda depth: st.sampled_from(
        [nested(depth), b'{"a":' * depth + b"1" + b"}" * depth, b'{"events": ' + nested(depth) + b"}"]
    )
)
bodies: st.SearchStrategy[bytes] = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v, allow_nan=True).encode("utf-8", "surrogatepass")),
    deep_documents,
)


def mutated(record: Mapping[str, Any], names: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    """``record`` with fields of ``names`` replaced by any JSON-like value, removed, or joined by unknown ones."""
    replacements = st.dictionaries(names, json_values, max_size=4)
    removals = st.sets(names, max_size=3)
    extras = st.dictionaries(keys, json_values, max_size=2)
    return st.builds(
        lambda changed, removed, extra: {
            k: v for k, v in {**record, **extra, **changed}.items() if k not in removed or k in changed
        },
        replacements,
        removals,
        extras,
    )


_PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(width=32),
    "double": st.floats(),
    "bytes": st.binary(max_size=40),
    "string": st.text(max_size=40),
}


def avro_values(schema: Any, named: dict[str, Any] | None = None, namespace: str = "") -> st.SearchStrategy[Any]:
    """Every value the Avro ``schema`` allows (sizes bounded), as the codec encodes and decodes it."""
    named = {} if named is None else named
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        target = named.get(schema) or named.get(f"{namespace}.{schema}")
        if target is None:
            raise ValueError(f"unknown Avro type {schema!r}")
        return st.deferred(lambda: avro_values(target, named, namespace))
    if isinstance(schema, list):
        return st.one_of([avro_values(branch, named, namespace) for branch in schema])
    kind = schema["type"]
    if kind in ("record", "error", "enum", "fixed"):
        space = schema.get("namespace", namespace)
        short = str(schema["name"]).rsplit(".", 1)[-1]
        full = schema["name"] if "." in schema["name"] else f"{space}.{short}" if space else short
        named[short] = named[full] = schema
        namespace = space
    if kind in ("record", "error"):
        return st.fixed_dictionaries({f["name"]: avro_values(f["type"], named, namespace) for f in schema["fields"]})
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "fixed":
        return st.binary(min_size=schema["size"], max_size=schema["size"])
    if kind == "array":
        return st.lists(avro_values(schema["items"], named, namespace), max_size=4)
    if kind == "map":
        return st.dictionaries(st.text(max_size=10), avro_values(schema["values"], named, namespace), max_size=4)
    return avro_values(kind, named, namespace)  # a primitive with attributes, e.g. a logical type


def same(a: Any, b: Any) -> bool:
    """Deep equality where NaN equals NaN (a NaN that survives a round trip is the same value)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(type(a) is type(b) and a == b) or (_number(a) and _number(b) and a == b)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
