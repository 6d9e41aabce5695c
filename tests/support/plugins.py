"""The contract every plugin class of a registry keeps, whatever it plugs into."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any


def built_like_a_plugin(cls: Any, name: str, base: type) -> Mapping[str, inspect.Parameter]:
    """Assert that ``cls`` is registered under its own ``name``, documented apart from ``base`` and a concrete
    subclass of it; its constructor's parameters, for the caller to check against its base's."""
    assert cls.name == name
    assert cls.__doc__ and cls.__doc__.strip() and cls.__doc__ is not base.__doc__
    assert issubclass(cls, base) and not inspect.isabstract(cls)
    return inspect.signature(cls.__init__).parameters
