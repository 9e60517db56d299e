"""Simplified-model SLHA spectra and Pythia signal generation from them."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from recast_ml import slha
from recast_ml.pythia import simplified_model_generator


def test_slha_text_has_masses_and_decays():
    text = slha.gluino_direct(1400, 1000).to_slha()
    assert "  1000021    1.40000000E+03" in text
    assert "  1000022    1.00000000E+03" in text
    assert "  1000001    5.00000000E+03" in text  # decoupled squark
    lines = text.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("DECAY  1000021"))
    channels = [line.split() for line in lines[i + 1 : i + 5]]
    assert [(float(c[0]), int(c[1]), [int(x) for x in c[2:]]) for c in channels] == [
        (0.25, 3, [1000022, q, -q]) for q in (1, 2, 3, 4)
    ]


@pytest.mark.parametrize(
    ("masses", "decays", "match"),
    [
        ({1000021: 1000.0, 1000022: 1200.0}, {1000021: [slha.Channel(1.0, (1000022, 1, -1))]}, "cannot decay"),
        ({1000021: 1000.0}, {1000021: [slha.Channel(0.5, (1000022, 1, -1))]}, "sum to 0.5"),
        ({42: 1000.0}, {}, "not an MSSM sparticle"),
        ({1000021: -5.0}, {}, "must be > 0"),
    ],
)
def test_bad_models_are_refused(masses, decays, match):
    with pytest.raises(ValueError, match=match):
        slha.SimplifiedModel(masses=masses, decays=decays)


def decays(events, i, particle):
    """Children ids (sorted) of every last copy of `particle` in event i."""
    b, e = events.particle_offsets[i], events.particle_offsets[i + 1]
    pid = events.pid[b:e]
    children: list[list[int]] = [[] for _ in range(e - b)]
    for c in range(e - b):
        for k in events.parents[events.parent_offsets[b + c] : events.parent_offsets[b + c + 1]]:
            children[k].append(c)
    last = [k for k in range(e - b) if pid[k] == particle and not any(pid[c] == particle for c in children[k])]
    return [sorted(int(pid[c]) for c in children[k]) for k in last]


def test_pythia_generates_the_simplified_gluino_model(tmp_path):
    gen = simplified_model_generator("gluino_direct", 1400, 1000, seed=4, slha_dir=str(tmp_path))
    assert (tmp_path / "gluino_direct_1400_1000.slha").exists()
    events = gen.generate(20)
    children = collections.Counter()
    n_gluinos = 0
    for i in range(len(events)):
        b, e = events.particle_offsets[i], events.particle_offsets[i + 1]
        pid = events.pid[b:e]
        gluino_decays = decays(events, i, 1000021)
        n_gluinos += len(gluino_decays)
        for kids in gluino_decays:
            children[tuple(kids)] += 1
        # two stable neutralinos per event, at the generated mass
        chi = (pid == 1000022) & (events.status[b:e] == 1)
        assert chi.sum() == 2
        p = np.s_[b:e]
        m = np.sqrt(np.maximum(events.e[p] ** 2 - events.px[p] ** 2 - events.py[p] ** 2 - events.pz[p] ** 2, 0))[chi]
        np.testing.assert_allclose(m, 1000.0, rtol=1e-3)
    assert n_gluinos == 40
    assert set(children) <= {(-q, q, 1000022) for q in (1, 2, 3, 4)}
    assert len(children) >= 3  # all four flavours at 25 %: three or more seen in 40 decays
    assert 0.005 < gen.cross_section_pb < 0.05  # Pythia LO; NNLO+NNLL is 0.0284 pb


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown simplified model"):
        simplified_model_generator("sleptons", 100, 50)


def test_higgsino_lsp_model_gives_two_tbs_decays_per_event():
    events = simplified_model_generator("higgsino_rpv_lsp", 385, seed=6).generate(15)
    for i in range(len(events)):
        # the two last copies of chi1 each decay to t b s
        chi1 = decays(events, i, 1000022)
        assert len(chi1) == 2
        for kids in chi1:
            assert sorted(abs(k) for k in kids) == [3, 5, 6]
