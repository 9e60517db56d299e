"""The detector output must not change under refactoring: every column of every collection (large-R
jets and MET included) equals, bit for bit, the output of the code before the issue-14 speed-up
(tests/data/detector_reference.npz, written by tests/data/make_detector_reference.py at commit
f312148), on Pythia tt̄, Z->tautau and gluino events, for the ATLAS and CMS cards and two overrides
(JVT + jet->electron fakes; truth-smeared MET + exclusive jet inputs), on one and two threads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parent / "data"


def _maker():
    spec = importlib.util.spec_from_file_location("make_detector_reference", DATA / "make_detector_reference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _maker()


@pytest.fixture(scope="module")
def reference():
    with np.load(DATA / "detector_reference.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def samples(reference):
    evs = MAKER.samples()
    for name, events in evs.items():
        if MAKER.digest(events) != str(reference[f"meta/digest/{name}"]):
            pytest.fail(f"the Pythia sample '{name}' differs from the one of the reference (other Pythia build?)")
    return evs


def _compare(reference, prefix, got):
    expected = {k[len(prefix) :]: v for k, v in reference.items() if k.startswith(prefix)}
    assert sorted(got) == sorted(expected)
    for key, want in expected.items():
        have = got[key]
        assert have.dtype == want.dtype, key
        assert have.shape == want.shape, key
        # bit-identical: compare the bytes (NaN payloads and signed zeros included)
        assert have.tobytes() == want.tobytes(), f"{prefix}{key} differs"


@pytest.mark.parametrize("card", ["atlas", "cms", "extras", "smeared"])
@pytest.mark.parametrize("threads", [1, 2])
def test_detector_output_is_bit_identical_to_the_reference(reference, samples, card, threads):
    c = MAKER.cards()[card]
    for sname, events in samples.items():
        _compare(reference, f"{card}/{sname}/", MAKER.raw_output(c, events, threads=threads))


def test_without_large_r_everything_else_is_identical(reference, samples):
    c = MAKER.cards()["atlas"]
    for sname, events in samples.items():
        got = MAKER.raw_output(c, events, large_r=False)
        assert got["large_r_jets/offsets"].tolist() == [0] * (len(events) + 1)
        assert all(got[f"large_r_jets/{f}"].size == 0 for f in ("pt", "eta", "tau", "label"))
        same = {k: v for k, v in got.items() if not k.startswith("large_r_jets/")}
        ref = {k: v for k, v in reference.items() if k.startswith(f"atlas/{sname}/") and "/large_r_jets/" not in k}
        _compare(ref, f"atlas/{sname}/", same)


def test_profile_reports_every_stage(samples):
    from recast_ml import _core
    from recast_ml.cards import DetectorCard

    det = _core.Detector(DetectorCard.load("atlas_run2")._card)
    events = samples["gluino"]
    out = det.reconstruct(events._batch, 0, 1, True, True)
    prof = out["profile"]
    assert list(prof)[:3] == ["truth", "inputs", "jets"]
    assert {"isolation", "met", "large_r", "btag", "merge"} <= set(prof)
    assert all(v >= 0 for v in prof.values())
    for stage in ("truth", "jets", "large_r"):
        assert prof[stage] > 0, stage
    assert "profile" not in det.reconstruct(events._batch, 0, 1, True)
    off = det.reconstruct(events._batch, 0, 1, False, True)["profile"]
    assert off["large_r"] < prof["large_r"]
