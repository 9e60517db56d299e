"""Locations of the data shipped with the package (analysis folders, detector cards, cross-section
tables), or of the repository's copies when running from a source checkout."""

from __future__ import annotations

from pathlib import Path


def _find(installed: str, checkout: str, what: str) -> Path:
    here = Path(__file__).resolve()
    for candidate in (here.parent / installed, here.parents[2] / checkout):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"recast_ml {what} not found (broken installation?)")


def analyses_dir() -> Path:
    """Folder with the bundled analyses (one sub-folder per analysis ID)."""
    return _find("analyses", "analyses", "analyses folder")


def validation_dir() -> Path:
    """Folder with the committed validation summaries (``<ID>/summary.json``)."""
    return _find("validation", "validation", "validation summaries")


def cards_dir() -> Path:
    """Folder with the reference detector cards (atlas_run2.toml, cms_run2.toml)."""
    return _find("data/cards", "data/cards", "detector cards")


def xsec_dir() -> Path:
    """Folder with the SUSY cross-section tables (JSON)."""
    return _find("data/xsec", "data/xsec", "cross-section tables")
