"""The ATLAS-SUSY-2019-02 signal models (spec §10): slepton and chargino pairs with Pythia 8, and
their cross sections (LHC SUSY cross-section WG tables, scaled as the spec says)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from recast_ml import ConfigError, slha, xsec
from recast_ml._data import xsec_dir
from recast_ml.pythia import simplified_model_generator
from recast_ml.run import sample_generator
from test_slha import decays


def _table(name, mass):
    """(sigma, uncertainty) of a grid point; asymmetric uncertainties -> the larger one."""
    v = json.loads((xsec_dir() / f"{name}.json").read_text())["data"][str(mass)]
    return v["xsec_pb"], v.get("unc_pb", max(abs(v.get("unc_up_pb", 0)), abs(v.get("unc_down_pb", 0))))


def test_cross_sections_are_the_spec_tables_scaled():
    # spec §10.1: 4-state sigma = 2 x sigma_LR; at 150 GeV sigma_LR = 0.0871162 pb -> 0.174232 pb
    x = xsec.lookup("slepton_emu", 150)
    assert x.xsec_pb == pytest.approx(2 * 0.0871162, rel=1e-6)
    assert x.unc_pb == pytest.approx(2 * _table("pp13_slep_LR_NLO+NLL_PDF4LHC", 150)[1], rel=1e-12)
    assert x.unc_pb == pytest.approx(2 * 0.00149, rel=0.01)  # spec table: +0.00146 / -0.00149
    assert x.table == "pp13_slep_LR_NLO+NLL_PDF4LHC"
    assert "2 x the one-flavour" in x.source
    # spec §10.2: wino C1C1 at 125 GeV = 5.0905 pb; x BR(W -> l nu)^2 = 0.10615
    assert xsec.lookup("chargino_pair", 125).xsec_pb == pytest.approx(5.0905, rel=1e-6)
    lep = xsec.lookup("chargino_pair_wlep", 125)
    assert lep.xsec_pb == pytest.approx(5.0905 * (3 * 0.1086) ** 2, rel=1e-9)
    assert pytest.approx(0.10615, abs=1e-5) == (3 * 0.1086) ** 2
    # between grid points: the table's interpolation, scaled
    assert xsec.lookup("slepton_emu", 160).xsec_pb == pytest.approx(
        2 * xsec.lookup("pp13_slep_LR_NLO+NLL_PDF4LHC", 160).xsec_pb, rel=1e-12
    )
    with pytest.raises(ConfigError, match="only 13 TeV"):
        xsec.lookup("slepton_emu", 150, sqrt_s=13.6)
    with pytest.raises(ConfigError, match="outside the table"):
        xsec.lookup("chargino_pair", 5.0)


def test_generate_uses_the_scaled_cross_sections():
    _, xs, source = sample_generator(
        generate="slepton_emu:200,100", slha_file=None, process=None, seed=1, cross_section=None
    )
    assert xs == pytest.approx(0.0606287, rel=1e-5)  # spec §10.1 table, 4 states
    assert "pp13_slep_LR" in source
    _, xs, _ = sample_generator(generate="chargino_ww:150,50", slha_file=None, process=None, seed=1, cross_section=None)
    assert xs == pytest.approx(2.6123, rel=1e-6)


def test_spectra_and_process_settings():
    s = slha.model_spectrum("slepton_emu", [150, 100])
    for pid in (1000011, 2000011, 1000013, 2000013):
        assert s.mass(pid) == 150
        assert s.decays[pid][0].daughters == (1000022, pid % 100)
    assert s.mass(1000015) == s.mass(1000012) == 5000  # staus and sneutrinos decoupled
    c = slha.model_spectrum("chargino_ww_lep", [125, 25])
    assert c.decays[1000024][0].daughters == (1000022, 24)
    assert "24:onIfAny = 11 13 15" in slha.pythia_settings("chargino_ww_lep")
    assert not any(x.startswith("24:") for x in slha.pythia_settings("chargino_ww"))
    with pytest.raises(ConfigError, match="cannot decay"):
        slha.model_spectrum("chargino_ww", [100, 50])  # 50 + m_W > 100


def test_pythia_slepton_pairs_of_e_and_mu_only():
    events = simplified_model_generator("slepton_emu", 150, 100, seed=3).generate(30)
    seen = set()
    for i in range(len(events)):
        n = 0
        for pid in (1000011, 2000011, 1000013, 2000013):
            for sign in (1, -1):
                for kids in decays(events, i, sign * pid):
                    assert kids == sorted([1000022, sign * (pid % 100)])
                    seen.add(pid)
                    n += 1
        assert n == 2  # one pair of charged e/mu sleptons per event, nothing else
        b, e = events.particle_offsets[i], events.particle_offsets[i + 1]
        pid = np.abs(events.pid[b:e])
        assert not np.isin(pid, [1000012, 1000014, 1000015, 2000015, 1000016]).any()
    assert len(seen) >= 3


def test_pythia_chargino_pairs_with_leptonic_w():
    gen = simplified_model_generator("chargino_ww_lep", 125, 25, seed=5)
    events = gen.generate(30)
    for i in range(len(events)):
        chis = decays(events, i, 1000024) + decays(events, i, -1000024)
        assert len(chis) == 2
        for kids in chis:
            assert kids in ([-24, 1000022], [24, 1000022])
        for w in (24, -24):
            for kids in decays(events, i, w):
                assert sorted(abs(k) for k in kids) in ([11, 12], [13, 14], [15, 16])
    assert math.isfinite(gen.cross_section_pb)
    assert gen.cross_section_pb > 0
