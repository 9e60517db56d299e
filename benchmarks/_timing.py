"""Shared helpers of the benchmark scripts: timing and the markdown table each one prints/writes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path


def best(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of `repeat` calls (seconds)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def per_call(fn: Callable[[], object], n: int) -> float:
    """Mean wall time per call over `n` back-to-back calls (seconds); for calls too short to time singly."""
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str) -> str:
    """A markdown table; `align` has one letter per column, 'l' (left) or 'r' (right)."""
    if len(align) != len(header):
        raise ValueError(f"align {align!r} has {len(align)} columns, header {len(header)}")
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def publish(table: str, output: Path | None, title: str, description: str, summary: str | None = None) -> None:
    """Print `summary` (if any) and the table; with `output`, also write them as a markdown page:
    `# title`, the description (how it was run, on what), the table."""
    if summary:
        print(summary)
    print(table)
    if output:
        output.write_text(f"# {title}\n\n{description}\n\n{table}\n")
