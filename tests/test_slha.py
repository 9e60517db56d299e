"""Simplified-model SLHA spectra and Pythia signal generation from them."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from recast_ml import ConfigError, InputError, RecastError, slha
from recast_ml.pythia import PythiaError, PythiaGenerator, simplified_model_generator
from recast_ml.run import sample_generator


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


# --- reading user SLHA files: typed errors naming file:line, the spectrum Pythia really uses ---


@pytest.mark.parametrize(("card", "entry"), [("Gtbs", "1000002 MSTOP"), ("Gtt", "1000006     MSTOP")])
def test_non_numeric_mass_names_file_and_line(shared_data, card, entry):
    """ATLAS' MadGraph template cards hold placeholders (MSTOP, MGO) in their MASS blocks: Pythia
    would silently take them as something; the reader names the first one."""
    path = shared_data / "ATLAS-SUSY-2019-04" / "slha" / f"param_card.{card}.slha"
    lines = path.read_text().splitlines()
    line = next(k for k, text in enumerate(lines, start=1) if text.strip().startswith(entry))
    with pytest.raises(InputError, match=rf"param_card\.{card}\.slha:{line}: malformed BLOCK MASS entry '{entry}'"):
        slha.read_slha(path)
    with pytest.raises(InputError, match=rf"param_card\.{card}\.slha:{line}:"):
        sample_generator(generate=None, slha_file=path, process="gluino", seed=1, cross_section=1.0)


@pytest.mark.parametrize(
    ("text", "line", "match"),
    [
        (
            b"BLOCK MASS\n  1000021  1.4E+03 # \xe9 accent in a comment is fine\n  1000022 \xff00\n",
            3,
            "undecodable byte 0xff",
        ),
        (b"BLOCK MASS\n  1000021  1.4E+03\nDECAY 1000021 0.1\n  1.0  3  1000022  1\n", 4, "lists 2 daughters, not 3"),
        (b"BLOCK MASS\n  1000021\n", 2, "malformed BLOCK MASS entry"),
        (b"BLOCK MASS\n  1000021 1400\nDECAY gluino 0.1\n", 3, "malformed DECAY"),
        (b"BLOCK MASS\n  1000021 NaN\n", 2, "'NaN' is not a finite number"),
        (b"BLOCK MASS\n  1000021 1400\nDECAY 1000021 inf\n", 3, "'inf' is not a finite number"),
        (b"BLOCK MASS\n  1000021 1400\nDECAY 1000021 0.1\n  nan  2  1000022  21\n", 4, "'nan' is not a finite"),
    ],
)
def test_malformed_slha_gives_input_error_with_file_and_line(tmp_path, text, line, match):
    path = tmp_path / "bad.slha"
    path.write_bytes(text)
    with pytest.raises(InputError, match=rf"bad\.slha:{line}: .*{match}"):
        slha.read_slha(path)


def test_slha_reader_reads_masses_and_decays(tmp_path):
    path = tmp_path / "m.slha"
    path.write_text(slha.gluino_onestep(1400, 200).to_slha())
    f = slha.read_slha(path)
    assert f.has_mass_block()
    assert f.masses[1000021] == 1400.0
    assert f.masses[1000024] == 800.0
    assert f.masses[1000001] == 5000.0
    width, channels = f.decays[1000024]
    assert width == pytest.approx(0.1)
    assert channels == [slha.Channel(1.0, (1000022, 24))]
    assert slha.checked_spectrum(path, "gluino") == {1000021: 1400.0, 1000022: 200.0}


def test_missing_mass_block_is_an_error_naming_the_file(tmp_path):
    """Without its MASS block Pythia silently runs its default 500 GeV sparticles."""
    text = slha.gluino_direct(1400, 1000).to_slha()
    lines = text.splitlines()
    start = lines.index("BLOCK MASS  # Mass spectrum")
    end = next(k for k in range(start + 1, len(lines)) if lines[k].startswith(("BLOCK", "DECAY")))
    path = tmp_path / "no_mass.slha"
    path.write_text("\n".join(lines[:start] + lines[end:]) + "\n")
    with pytest.raises(InputError, match=r"no_mass\.slha: no MASS block"):
        slha.checked_spectrum(path, "gluino")
    with pytest.raises(InputError, match=r"no_mass\.slha: no MASS block"):
        sample_generator(generate=None, slha_file=path, process="gluino", seed=1, cross_section=0.0284)


def test_mass_block_without_the_produced_sparticle(tmp_path):
    path = tmp_path / "no_gluino.slha"
    path.write_text("BLOCK MASS\n  1000022  1.0E+03\n")
    with pytest.raises(InputError, match=r"no_gluino\.slha: the MASS block has no entry for ~g"):
        slha.checked_spectrum(path, "gluino")


def test_pythia_masses_are_checked_against_the_file(tmp_path):
    path = tmp_path / "g.slha"
    path.write_text(slha.gluino_direct(1400, 1000).to_slha())
    gen = PythiaGenerator(
        slha.pythia_settings("gluino"), slha=str(path), check_masses=slha.checked_spectrum(path, "gluino")
    )
    assert gen._pythia.particleData.m0(1000021) == pytest.approx(1400.0)
    with pytest.raises(
        InputError, match=r"g\.slha: Pythia does not use the file's spectrum \(1000021: 1400 GeV in Pythia, 1500"
    ):
        PythiaGenerator(slha.pythia_settings("gluino"), slha=str(path), check_masses={1000021: 1500.0})


def test_pythia_init_failure_gives_pythias_reason(shared_data, tmp_path):
    """Pythia's own reasons, not a bare RuntimeError: a 300 TeV gluino has vanishing cross sections;
    ATLAS' higgsino card has no MODSEL block, so Pythia keeps SUSY off."""
    heavy = tmp_path / "heavy_gluino.slha"
    heavy.write_text(slha.gluino_direct(300000, 1000).to_slha())
    with pytest.raises(PythiaError, match=r"heavy_gluino\.slha: .*all processes have vanishing cross sections"):
        sample_generator(generate=None, slha_file=heavy, process="gluino", seed=1, cross_section=1.0)
    card = shared_data / "ATLAS-SUSY-2019-04" / "slha" / "param_card.higgsino.slha"
    with pytest.raises(
        PythiaError, match=r"param_card\.higgsino\.slha: Abort from Pythia::init.*no process switched on"
    ):
        sample_generator(generate=None, slha_file=card, process="gluino", seed=1, cross_section=1.0)
    assert issubclass(PythiaError, RecastError)


def test_simplified_models_check_their_parameters():
    assert slha.model_usage("gluino_direct") == "gluino_direct:M_GLUINO,M_LSP"
    with pytest.raises(ConfigError, match=r"takes 2 mass parameter\(s\), got 1: gluino_direct:M_GLUINO,M_LSP"):
        slha.model_spectrum("gluino_direct", [1400])
    with pytest.raises(ConfigError, match=r"takes 2 to 3 mass parameter\(s\), got 1"):
        slha.model_spectrum("gluino_onestep", [1400])
    with pytest.raises(ConfigError, match="cannot decay"):
        slha.model_spectrum("gluino_direct", [1000, 1200])
    assert slha.model_spectrum("gluino_onestep", [1400, 200, 700]).masses[1000024] == 700
