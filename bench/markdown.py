"""Markdown pieces shared by the report's sections: tables, verdicts, ratios."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    return lines


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "**missed**")


def ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"
