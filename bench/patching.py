"""Temporary replacement of an attribute, for instrumenting library and project code in a run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_INHERITED = object()


@contextmanager
def patched(target: Any, name: str, value: Any) -> Iterator[None]:
    """Set `target.name` for the block; a class attribute it inherited is inherited again after."""
    if isinstance(target, type):
        original = target.__dict__.get(name, _INHERITED)
    else:
        original = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        if original is _INHERITED:
            delattr(target, name)
        else:
            setattr(target, name, original)
