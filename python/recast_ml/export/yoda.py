"""YODA text histograms (``YODA_HISTO1D_V2``), as Rivet and YODA read them.

The layout is that of YODA's text writer (``WriterYODA``, format version 2, read by YODA ≥ 1.6
including YODA 2)::

    BEGIN YODA_HISTO1D_V2 /PATH
    Path: /PATH
    Title: ...
    Type: Histo1D
    XLabel: ...
    YLabel: ...
    ---
    # Mean: <weighted mean of x, all entries>
    # Area: <sum of weights, all entries>
    # ID	 ID	 sumw	 sumw2	 sumwx	 sumwx2	 numEntries
    Total   	Total   	...
    Underflow	Underflow	...
    Overflow	Overflow	...
    # xlow	 xhigh	 sumw	 sumw2	 sumwx	 sumwx2	 numEntries
    <one line per bin>
    END YODA_HISTO1D_V2

numbers in C++ ``scientific`` format with 10 digits, bin edges with 17 (YODA's writer has 6
by default and a settable precision; its reader takes any: fewer digits would move computed bin
edges off the values they bound, e.g. put the largest value of a sample into the overflow).
Mean and Area include the under/overflow, as YODA's ``xMean()`` and ``integral()`` do by
default. Bins are half-open [low, high): a value equal to the last edge is overflow, as in
YODA; NaN values are not filled. The total is the sum over all bins and the under/overflow.
:func:`read` parses the same text back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .._core import ConfigError

BEGIN = "BEGIN YODA_HISTO1D_V2"
END = "END YODA_HISTO1D_V2"
_COLUMNS = 5  # sumw, sumw2, sumwx, sumwx2, numEntries
PRECISION = 10


def _fmt(x: float) -> str:
    return f"{x:.{PRECISION}e}"


def _fmt_edge(x: float) -> str:
    """A bin edge with 17 significant digits: read back as the same double, so a value equal to
    the largest value filled stays below the last edge (10 digits could round it down)."""
    return f"{x:.16e}"


@dataclass
class Histo1D:
    """A YODA 1-D histogram: per bin and for the underflow, overflow and total the moments
    (sumw, sumw2, sumwx, sumwx2, numEntries)."""

    path: str
    edges: npt.NDArray[np.float64]
    #: n_bins x 5: sumw, sumw2, sumwx, sumwx2, numEntries
    bins: npt.NDArray[np.float64]
    underflow: npt.NDArray[np.float64]
    overflow: npt.NDArray[np.float64]
    annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def fill(
        cls,
        path: str,
        edges: Sequence[float] | npt.NDArray[np.float64],
        values: Iterable[float] | npt.NDArray[np.float64],
        weights: Iterable[float] | npt.NDArray[np.float64] | None = None,
        *,
        title: str = "",
        xlabel: str = "",
        ylabel: str = "",
    ) -> Histo1D:
        """The histogram of ``values`` (with ``weights``, default 1) on ``edges`` (increasing)."""
        e = np.asarray(edges, dtype=np.float64)
        if e.ndim != 1 or len(e) < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
            raise ConfigError(f"YODA histogram {path}: edges must be >= 2 finite increasing numbers, got {e}")
        x = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64).ravel()
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
        if w.shape != x.shape:
            raise ConfigError(f"YODA histogram {path}: {len(w)} weights for {len(x)} values")
        keep = ~np.isnan(x)
        x, w = x[keep], w[keep]
        # bin k: edges[k] <= x < edges[k+1]; -1 underflow, n_bins overflow
        idx = np.searchsorted(e, x, side="right") - 1
        n_bins = len(e) - 1
        slots = np.where(idx < 0, n_bins, np.where(idx >= n_bins, n_bins + 1, idx))
        moments = np.zeros((n_bins + 2, _COLUMNS))
        for col, q in enumerate((w, w * w, w * x, w * x * x, np.ones_like(w))):
            moments[:, col] = np.bincount(slots, weights=q, minlength=n_bins + 2)
        annotations = {"Title": title, "XLabel": xlabel, "YLabel": ylabel}
        return cls(path, e, moments[:n_bins], moments[n_bins], moments[n_bins + 1], annotations)

    @property
    def total(self) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = self.bins.sum(axis=0) + self.underflow + self.overflow
        return out

    def to_text(self) -> str:
        ann = {"Path": self.path, "Type": "Histo1D", **{k: v for k, v in self.annotations.items() if k != "Path"}}
        lines = [f"{BEGIN} {self.path}"]
        lines += [f"{k}: {ann[k].replace(chr(10), '')}" for k in sorted(ann)]  # newlines removed, as YODA does
        lines.append("---")
        total = self.total
        if total[0] != 0:  # YODA leaves both lines out when the mean is undefined
            lines.append(f"# Mean: {_fmt(float(total[2] / total[0]))}")
            lines.append(f"# Area: {_fmt(float(total[0]))}")
        lines.append("# ID\t ID\t sumw\t sumw2\t sumwx\t sumwx2\t numEntries")
        for label, row in (("Total   ", self.total), ("Underflow", self.underflow), ("Overflow", self.overflow)):
            lines.append(f"{label}\t{label}\t" + "\t".join(_fmt(float(v)) for v in row))
        lines.append("# xlow\t xhigh\t sumw\t sumw2\t sumwx\t sumwx2\t numEntries")
        for k, row in enumerate(self.bins):
            edges = (_fmt_edge(float(self.edges[k])), _fmt_edge(float(self.edges[k + 1])))
            lines.append("\t".join([*edges, *(_fmt(float(v)) for v in row)]))
        lines.append(END)
        return "\n".join(lines) + "\n\n"


def write(path: str | Path, histograms: Sequence[Histo1D]) -> Path:
    """Writes the histograms into one ``.yoda`` text file."""
    path = Path(path)
    path.write_text("".join(h.to_text() for h in histograms))
    return path


def read(path: str | Path) -> list[Histo1D]:
    """The ``YODA_HISTO1D_V2`` objects of a YODA text file (other objects are skipped)."""
    path = Path(path)
    out: list[Histo1D] = []
    block: list[tuple[int, str]] | None = None
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if line.startswith(BEGIN):
            block = [(number, line)]
        elif block is not None:
            block.append((number, line))
            if line == END:
                out.append(_parse(path, block))
                block = None
    if block is not None:
        raise ConfigError(f"{path}: line {block[0][0]}: no {END} for this histogram")
    return out


def _parse(path: Path, block: list[tuple[int, str]]) -> Histo1D:
    hist_path = block[0][1][len(BEGIN) :].strip()
    annotations: dict[str, str] = {}
    edges: list[float] = []
    rows: list[list[float]] = []
    special: dict[str, list[float]] = {}
    in_header = True
    for number, line in block[1:-1]:
        try:
            if in_header:
                if line == "---":
                    in_header = False
                elif ":" in line:
                    key, value = line.split(":", 1)
                    annotations[key.strip()] = value.strip()
                continue
            if not line or line.startswith("#"):
                continue
            cells = line.split()
            if cells[0] in ("Total", "Underflow", "Overflow"):
                special[cells[0]] = [float(c) for c in cells[2:]]
                if len(special[cells[0]]) != _COLUMNS:
                    raise ValueError(f"{_COLUMNS} numbers after the two labels")
            else:
                lo, hi, *vals = (float(c) for c in cells)
                if len(vals) != _COLUMNS:
                    raise ValueError(f"xlow, xhigh and {_COLUMNS} numbers")
                if edges and not math.isclose(edges[-1], lo, rel_tol=1e-9, abs_tol=1e-12):
                    raise ValueError(f"bin starts at {lo}, the previous one ends at {edges[-1]}")
                if not edges:
                    edges.append(lo)
                edges.append(hi)
                rows.append(vals)
        except ValueError as e:
            raise ConfigError(f"{path}: line {number}: {e}: {line!r}") from None
    for key in ("Underflow", "Overflow"):
        if key not in special:
            raise ConfigError(f"{path}: histogram {hist_path}: no {key} line")
    annotations.pop("Path", None)
    annotations.pop("Type", None)
    h = Histo1D(
        hist_path,
        np.array(edges),
        np.array(rows).reshape(-1, _COLUMNS),
        np.array(special["Underflow"]),
        np.array(special["Overflow"]),
        annotations,
    )
    if "Total" in special and not np.allclose(special["Total"], h.total, rtol=1e-5, atol=1e-12):
        raise ConfigError(f"{path}: histogram {hist_path}: Total line {special['Total']} != sum of the bins {h.total}")
    return h


__all__ = ["Histo1D", "read", "write"]
