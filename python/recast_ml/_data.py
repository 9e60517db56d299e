"""Location of the analysis folders shipped with the package (``recast_ml/analyses``), or the
repository's ``analyses/`` when running from a source checkout."""

from __future__ import annotations

from pathlib import Path


def analyses_dir() -> Path:
    installed = Path(__file__).resolve().parent / "analyses"
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parents[2] / "analyses"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError("recast_ml analyses folder not found (broken installation?)")
