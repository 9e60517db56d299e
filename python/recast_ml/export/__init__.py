"""Exports of recast results into the formats of other tools.

* :mod:`.pyhf_patch` — a pyhf background-only workspace per analysis (from the published
  ``signal_regions.csv``) and an RFC 6902 JSON patch adding the signal, so that
  ``pyhf cls bkgonly.json --patch patch.json`` works as it does on an experiment's likelihood;
* :mod:`.hepdata` — HEPData submission YAML (``submission.yaml`` + one file per table) for
  cutflows, signal-region yields with CLs and r, and validation comparisons;
* :mod:`.yoda` — YODA text histograms (``YODA_HISTO1D_V2``) of distributions.

:func:`write_run_exports` is what ``recast-ml run`` calls; :func:`write_validation_exports` what
``recast-ml validate`` calls.
"""

from __future__ import annotations

from .outputs import write_run_exports, write_validation_exports

__all__ = ["write_run_exports", "write_validation_exports"]
