from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

from hepmc_samples import pythia_records, to_genevents

REPO = Path(__file__).resolve().parents[1]

try:  # the long property-based fuzz run: pytest tests/test_fuzz_properties.py --hypothesis-profile fuzz-long
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "fuzz-long", max_examples=2000, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
except ImportError:  # pragma: no cover
    pass
SHARED = Path(os.environ.get("RECAST_SHARED_DIR", REPO.parent / "shared"))
SHARED_DATA = SHARED / "data"


def load_spec_tool(name: str) -> ModuleType:
    """Import one of the reference implementations in shared/specs/tools/ (e.g. "expr")."""
    path = SHARED / "specs" / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"spec_tool_{name}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only published material (models, cutflows) beside the repository."""
    if not SHARED_DATA.is_dir():
        raise RuntimeError(f"shared data not found at {SHARED_DATA}; set RECAST_SHARED_DIR")
    return SHARED_DATA


@pytest.fixture(scope="session")
def hepmc_files(tmp_path_factory):
    """The same 12 Pythia ttbar events (full hadronisation, MPI) in every supported flavour."""
    import gzip
    import shutil

    import pyhepmc

    tmp = tmp_path_factory.mktemp("hepmc")
    _, records = pythia_records(12, seed=7)
    files = {}
    for fmt in ("HepMC3", "HepMC2"):
        path = tmp / f"ttbar.{fmt.lower()}"
        with pyhepmc.open(path, "w", format=fmt) as f:
            for g in to_genevents(records, weights=(1.5, 0.7), xsec=(511.0, 3.5)):
                f.write(g)
        files[fmt.lower()] = path
        gz = tmp / f"ttbar.{fmt.lower()}.gz"
        with open(path, "rb") as src, gzip.open(gz, "wb") as dst:
            shutil.copyfileobj(src, dst)
        files[fmt.lower() + ".gz"] = gz
    mev = tmp / "ttbar_mev.hepmc3"
    with pyhepmc.open(mev, "w", format="HepMC3") as f:
        for g in to_genevents(records, units_mev=True):
            f.write(g)
    files["hepmc3-mev"] = mev
    return files
