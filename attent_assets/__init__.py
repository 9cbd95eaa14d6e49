"""Keeps a warehouse copy of an Attent organisation; `AttentComponent` is its Dagster component.

The component is imported on first use, so the parts that do not need Dagster (the simulator, the
sync engine) import without it.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attent_assets.defs.component import AttentComponent

__all__ = ["AttentComponent"]


def __getattr__(name: str) -> Any:
    if name == "AttentComponent":
        from attent_assets.defs.component import AttentComponent

        return AttentComponent
    raise AttributeError(f"module 'attent_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
