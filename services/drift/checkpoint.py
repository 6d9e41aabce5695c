"""The drift checkpoint format: tagged JSON that can only be rebuilt into an allowlist of classes.

The checkpoint lives in Redis, which other processes can write. Pickle would call whatever a blob
names (``os.system`` included), so a hostile blob would run code in the guard. Here a blob is data:
objects are rebuilt with ``cls.__new__`` and their attribute state, never by calling a function the
blob names, and only for the classes in :data:`ALLOWED`. Anything else is refused with
:class:`CheckpointError` before the monitor's state is touched.

Node forms (``$`` tags; identity is kept with ``id``/``ref`` so shared and cyclic references survive):
JSON scalars; ``list``, ``tuple``, ``dict`` (pairs, any key type), ``set``, ``frozenset``, ``deque``,
``counter``, ``bytes``, ``array``, ``random``; ``obj`` (an allowlisted class, its ``__new__``
arguments and state), ``model`` (a pydantic model, re-validated), ``method`` (a method of an
allowlisted object, bound by name) and ``ref``.
"""

from __future__ import annotations

import base64
import binascii
import copyreg
import json
import random
import types
from array import array
from collections import Counter, deque
from typing import Any

from pydantic import BaseModel
from river.drift import ADWIN, PageHinkley
from river.drift.binary import DDM
from river.stats import Mean, Var

from services.drift import config
from services.drift.detectors import base, categorical, error_rate, numeric, quality, skew
from services.drift.stats import adwin, baseline, distance, page_hinkley, season

_SCALAR_TYPES = frozenset({int, float, str, bool, type(None)})  # JSON carries these as they are
MAGIC = b"AIGCKPT1"  # format marker: a blob without it (an old pickle, garbage) is refused up front
MAX_BLOB_BYTES = 256 * 1024 * 1024  # a blob this large is not a checkpoint of ours
MAX_NODES = 5_000_000  # bounds the work a hostile blob can cause


class CheckpointError(ValueError):
    """A blob that is not a checkpoint this service can load (the message says why)."""


def _classes(*modules: types.ModuleType) -> list[type]:
    """The classes defined in ``modules`` themselves (not the ones they import)."""
    return [v for m in modules for v in vars(m).values() if isinstance(v, type) and v.__module__ == m.__name__]


def _state_classes(*modules: types.ModuleType) -> list[type]:
    """The plain state-holding classes of ``modules``: not exceptions and not thresholds models."""
    return [c for c in _classes(*modules) if not issubclass(c, BaseException | BaseModel)]


def _river_helper() -> list[type]:
    """river's ADWIN keeps its window in a compiled helper class; its name is private to river."""
    probe = ADWIN()
    probe.update(0.0)
    helper = getattr(probe, "_helper", None)
    return [type(helper)] if helper is not None else []


ALLOWED: dict[str, type] = {
    f"{c.__module__}:{c.__qualname__}": c
    for c in [
        *_state_classes(base, categorical, error_rate, numeric, quality, skew),
        *_state_classes(adwin, baseline, distance, page_hinkley, season),
        ADWIN,
        PageHinkley,
        DDM,
        Mean,
        Var,
        *_river_helper(),
    ]
}
MODELS: dict[str, type[BaseModel]] = {
    f"{c.__module__}:{c.__qualname__}": c for c in _classes(config) if issubclass(c, BaseModel)
}


def allow(*classes: type) -> None:
    """Add classes whose instances a checkpoint may hold (the monitor's own state classes)."""
    for c in classes:
        ALLOWED[f"{c.__module__}:{c.__qualname__}"] = c


_NEWOBJ = getattr(copyreg, "__newobj__")  # noqa: B009 - what object.__reduce_ex__(2+) reconstructs with


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


# ----------------------------------------------------------------------------------- encode
class _Encoder:
    def __init__(self) -> None:
        self.ids: dict[int, int] = {}
        self.keep: list[Any] = []  # keeps encoded objects alive, so their id() is not reused

    def _memo(self, obj: Any) -> tuple[int, dict[str, Any] | None]:
        key = id(obj)
        if key in self.ids:
            return self.ids[key], {"$": "ref", "id": self.ids[key]}
        n = len(self.ids)
        self.ids[key] = n
        self.keep.append(obj)
        return n, None

    def encode(self, obj: Any) -> Any:
        if obj is None or isinstance(obj, bool | int | str):
            return obj
        if isinstance(obj, float):
            return obj
        t = type(obj)
        if t is tuple:
            return {"$": "tuple", "v": self._items(obj)}
        if t is bytes:
            return {"$": "bytes", "v": base64.b64encode(obj).decode("ascii")}
        n, ref = self._memo(obj)
        if ref is not None:
            return ref
        if t is list:
            return {"$": "list", "id": n, "v": self._items(obj)}
        if t is dict:
            return {"$": "dict", "id": n, "v": [[self.encode(k), self.encode(v)] for k, v in obj.items()]}
        if t is Counter:
            return {"$": "counter", "id": n, "v": [[self.encode(k), self.encode(v)] for k, v in obj.items()]}
        if t is set or t is frozenset:
            return {"$": t.__name__, "id": n, "v": [self.encode(x) for x in obj]}
        if t is deque:
            return {"$": "deque", "id": n, "v": self._items(obj), "maxlen": obj.maxlen}
        if t is array:
            return {"$": "array", "id": n, "typecode": obj.typecode, "v": obj.tolist()}
        if t is random.Random:
            version, words, gauss = obj.getstate()  # 625 32-bit words: packed, not 625 JSON numbers
            packed = base64.b64encode(array("I", words).tobytes()).decode("ascii")
            return {"$": "random", "id": n, "version": version, "words": packed, "gauss": gauss}
        if isinstance(obj, types.MethodType):
            return {"$": "method", "id": n, "self": self.encode(obj.__self__), "name": obj.__func__.__name__}
        if isinstance(obj, BaseModel):
            if _name(t) not in MODELS:
                raise CheckpointError(f"checkpoint cannot hold a {_name(t)} (not an allowed thresholds model)")
            return {"$": "model", "id": n, "cls": _name(t), "v": obj.model_dump(mode="json")}
        return self._object(obj, n)

    def _items(self, items: Any) -> list[Any]:
        """Encoded items; a run of plain scalars (most of a state: reservoirs, RNG words) is copied as is."""
        if _SCALAR_TYPES.issuperset(map(type, items)):
            return list(items)
        return [self.encode(x) for x in items]

    def _object(self, obj: Any, n: int) -> dict[str, Any]:
        name = _name(type(obj))
        if name not in ALLOWED:
            raise CheckpointError(f"checkpoint cannot hold a {name} (not on the allowlist)")
        reduced = obj.__reduce_ex__(4)
        if not isinstance(reduced, tuple) or reduced[0] is not _NEWOBJ or reduced[1][0] is not type(obj):
            raise CheckpointError(f"{name} does not reduce to cls.__new__(cls, ...)")
        if len(reduced) > 3 and (reduced[3] is not None or (len(reduced) > 4 and reduced[4] is not None)):
            raise CheckpointError(f"{name} carries list or dict items")
        state = reduced[2] if len(reduced) > 2 else None
        node = {"$": "obj", "id": n, "cls": name, "args": [self.encode(a) for a in reduced[1][1:]]}
        node["state"] = self.encode(state)
        return node


def dumps(obj: Any) -> bytes:
    """``obj`` as a checkpoint blob (the marker, then tagged JSON); raises CheckpointError on a foreign type.

    Not compressed: most of a state is RNG words and float reservoirs, which zlib hardly shrinks
    (14.4 to 8.5 MB) at a third of the write time (bench.drift.checkpoint_cost).
    """
    text = json.dumps(_Encoder().encode(obj), separators=(",", ":"))
    return MAGIC + text.encode("utf-8")


# ----------------------------------------------------------------------------------- decode
class _Decoder:
    def __init__(self) -> None:
        self.objs: dict[int, Any] = {}
        self.nodes = 0

    def _register(self, node: dict[str, Any], obj: Any) -> Any:
        n = node.get("id")
        if not isinstance(n, int) or n in self.objs:
            raise CheckpointError(f"bad or repeated object id {n!r}")
        self.objs[n] = obj
        return obj

    def decode(self, node: Any) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise CheckpointError(f"checkpoint has more than {MAX_NODES} nodes")
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if not isinstance(node, dict) or not isinstance(node.get("$"), str):
            raise CheckpointError(f"unexpected node {str(node)[:80]!r}")
        tag = node["$"]
        handler = getattr(self, f"_{tag}", None)
        if handler is None:
            raise CheckpointError(f"unknown node tag {tag!r}")
        return handler(node)

    def _items(self, node: dict[str, Any]) -> list[Any]:
        v = node.get("v")
        if not isinstance(v, list):
            raise CheckpointError(f"{node['$']} node without a list of items")
        return v

    def _values(self, node: dict[str, Any]) -> list[Any]:
        """The decoded items of a list-like node; plain scalars need no decoding (the common case)."""
        items = self._items(node)
        self.nodes += len(items)
        if self.nodes > MAX_NODES:
            raise CheckpointError(f"checkpoint has more than {MAX_NODES} nodes")
        if _SCALAR_TYPES.issuperset(map(type, items)):
            return items
        return [self.decode(x) for x in items]

    def _pairs(self, node: dict[str, Any]) -> list[tuple[Any, Any]]:
        pairs = self._items(node)
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise CheckpointError(f"{node['$']} node whose items are not pairs")
        return [(self.decode(k), self.decode(v)) for k, v in pairs]

    def _ref(self, node: dict[str, Any]) -> Any:
        n = node.get("id")
        if n not in self.objs:
            raise CheckpointError(f"reference to unknown object {n!r}")
        return self.objs[n]

    def _tuple(self, node: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(self._values(node))

    def _bytes(self, node: dict[str, Any]) -> bytes:
        v = node.get("v")
        if not isinstance(v, str):
            raise CheckpointError("bytes node without base64 text")
        return base64.b64decode(v, validate=True)

    def _list(self, node: dict[str, Any]) -> list[Any]:
        out: list[Any] = self._register(node, [])
        out.extend(self._values(node))
        return out

    def _dict(self, node: dict[str, Any]) -> dict[Any, Any]:
        out: dict[Any, Any] = self._register(node, {})
        out.update(self._hashable_pairs(node))
        return out

    def _counter(self, node: dict[str, Any]) -> Counter[Any]:
        out: Counter[Any] = self._register(node, Counter())
        out.update(dict(self._hashable_pairs(node)))
        return out

    def _hashable_pairs(self, node: dict[str, Any]) -> list[tuple[Any, Any]]:
        pairs = self._pairs(node)
        for k, _ in pairs:
            if isinstance(k, list | dict | set):
                raise CheckpointError(f"unhashable {type(k).__name__} as a {node['$']} key")
        return pairs

    def _set(self, node: dict[str, Any]) -> set[Any]:
        out: set[Any] = self._register(node, set())
        try:
            out.update(self.decode(x) for x in self._items(node))
        except TypeError as exc:
            raise CheckpointError(f"set of unhashable items: {exc}") from None
        return out

    def _frozenset(self, node: dict[str, Any]) -> frozenset[Any]:
        try:
            return self._register(node, frozenset(self.decode(x) for x in self._items(node)))  # type: ignore[no-any-return]
        except TypeError as exc:
            raise CheckpointError(f"frozenset of unhashable items: {exc}") from None

    def _deque(self, node: dict[str, Any]) -> deque[Any]:
        maxlen = node.get("maxlen")
        if maxlen is not None and (not isinstance(maxlen, int) or maxlen < 0):
            raise CheckpointError(f"deque with maxlen {maxlen!r}")
        out: deque[Any] = self._register(node, deque(maxlen=maxlen))
        out.extend(self._values(node))
        return out

    def _array(self, node: dict[str, Any]) -> array[Any]:
        code = node.get("typecode")
        if code not in ("d", "f", "q", "l", "i"):
            raise CheckpointError(f"array of typecode {code!r}")
        try:
            return self._register(node, array(code, self._items(node)))  # type: ignore[no-any-return]
        except TypeError as exc:
            raise CheckpointError(f"array items: {exc}") from None

    def _random(self, node: dict[str, Any]) -> random.Random:
        rng = self._register(node, random.Random())
        packed, gauss = node.get("words"), node.get("gauss")
        if not isinstance(packed, str) or not (gauss is None or isinstance(gauss, float)):
            raise CheckpointError("random state without its words")
        try:
            words = array("I")
            words.frombytes(base64.b64decode(packed, validate=True))
            rng.setstate((node.get("version"), tuple(words), gauss))  # the C code checks the words
        except (TypeError, ValueError, OverflowError, binascii.Error) as exc:
            raise CheckpointError(f"random state: {exc}") from None
        return rng  # type: ignore[no-any-return]

    def _model(self, node: dict[str, Any]) -> BaseModel:
        cls = MODELS.get(str(node.get("cls")))
        if cls is None:
            raise CheckpointError(f"class {node.get('cls')!r} is not an allowed thresholds model")
        try:
            return self._register(node, cls.model_validate(node.get("v")))  # type: ignore[no-any-return]
        except ValueError as exc:
            raise CheckpointError(f"{node.get('cls')}: {exc}") from None

    def _obj(self, node: dict[str, Any]) -> Any:
        name = str(node.get("cls"))
        cls = ALLOWED.get(name)
        if cls is None:
            raise CheckpointError(f"class {name!r} is not on the checkpoint allowlist")
        args = [self.decode(a) for a in node.get("args") or []]
        try:
            obj = self._register(node, cls.__new__(cls, *args))
        except TypeError as exc:
            raise CheckpointError(f"{name}: {exc}") from None
        state = self.decode(node.get("state"))
        try:
            _set_state(obj, state)
        except (TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"{name} state: {type(exc).__name__}: {exc}") from None
        return obj

    def _method(self, node: dict[str, Any]) -> Any:
        name = node.get("name")
        owner_node = node.get("self")
        owner = self.decode(owner_node)
        if _name(type(owner)) not in ALLOWED or not isinstance(name, str):
            raise CheckpointError("method of an object that is not on the allowlist")
        func = getattr(type(owner), name, None)
        if not isinstance(func, types.FunctionType) or name.startswith("__"):
            raise CheckpointError(f"{_name(type(owner))} has no method {name!r}")
        return self._register(node, getattr(owner, name))


def _set_state(obj: Any, state: Any) -> None:
    """Restore state the way pickle would, without calling anything the blob names."""
    if state is None:
        return
    setstate = getattr(type(obj), "__setstate__", None)
    if setstate is not None and setstate is not getattr(object, "__setstate__", None):
        setstate(obj, state)
        return
    slots: dict[str, Any] = {}
    if isinstance(state, tuple) and len(state) == 2:
        state, slots = state
    for part in (state, slots):
        if part is None:
            continue
        if not isinstance(part, dict) or not all(isinstance(k, str) for k in part):
            raise TypeError(f"state is a {type(part).__name__}, not attributes")
        for k, v in part.items():
            object.__setattr__(obj, k, v)


def loads(blob: bytes) -> Any:
    """The object a checkpoint blob holds; CheckpointError for anything that is not one of ours."""
    if not isinstance(blob, bytes | bytearray):
        raise CheckpointError(f"checkpoint is a {type(blob).__name__}, not bytes")
    if len(blob) > MAX_BLOB_BYTES:
        raise CheckpointError(f"checkpoint of {len(blob)} bytes exceeds {MAX_BLOB_BYTES}")
    if not bytes(blob[: len(MAGIC)]) == MAGIC:
        raise CheckpointError("not a drift checkpoint (format marker missing: an old pickle or foreign data)")
    try:
        tree = json.loads(bytes(blob[len(MAGIC) :]))
    except RecursionError:
        raise CheckpointError("checkpoint nests too deep") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint is not JSON: {exc}") from None
    try:
        return _Decoder().decode(tree)
    except RecursionError:
        raise CheckpointError("checkpoint nests too deep") from None
