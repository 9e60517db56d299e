"""Locations of the data shipped with the package (analysis folders, detector cards), or of the
repository's copies when running from a source checkout."""

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


def cards_dir() -> Path:
    """Folder with the reference detector cards (atlas_run2.toml, cms_run2.toml)."""
    installed = Path(__file__).resolve().parent / "data" / "cards"
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parents[2] / "data" / "cards"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError("recast_ml detector cards not found (broken installation?)")
