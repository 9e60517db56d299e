"""Pythia 8 samples written with pyhepmc (the HepMC3 library): shared by the tests and benchmarks."""

from __future__ import annotations

import numpy as np

#: Pythia 8 settings for Z/gamma* -> tau tau at 13 TeV (two taus per event).
ZTAUTAU = [
    "Beams:eCM = 13000.",
    "WeakSingleBoson:ffbar2gmZ = on",
    "23:onMode = off",
    "23:onIfAny = 15",
    "PhaseSpace:mHatMin = 60.",
]


def pythia_records(n_events: int, seed: int, settings: list[str] | None = None):
    """Raw awkward records from pythia8mc (independent of recast_ml's conversion)."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for s in [
        *(settings or ["Beams:eCM = 13000.", "Top:gg2ttbar = on", "Top:qqbar2ttbar = on"]),
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Next:numberCount = 0",
        "Next:numberShowEvent = 0",
        "Print:quiet = on",
    ]:
        assert pythia.readString(s)
    assert pythia.init()
    return pythia, pythia.nextBatch(n_events)


def to_genevents(records, *, weights=(1.0,), xsec=None, units_mev=False, hepmc_status=False):
    """pyhepmc GenEvents built from Pythia records.

    Particles keep Pythia's order (ids 1..N). Decay vertices come from Pythia's daughter ranges,
    keeping only forward links (daughters after their mother, not yet produced elsewhere) so that
    the graph is the topologically ordered DAG HepMC3 requires; Pythia's initial-state shower
    history (backward references) is dropped. Daughters of one mother share one vertex.
    ``hepmc_status``: final particles get status 1 and the others 2 (as Pythia's HepMC interface
    writes them); by default Pythia's own status codes are kept.
    """
    import pyhepmc

    out = []
    run_info = pyhepmc.GenRunInfo()
    run_info.weight_names = [f"w{i}" for i in range(len(weights))]
    for i, ev in enumerate(records.prt):
        ev = ev[1:]  # drop Pythia's system entry: Pythia index k -> position k - 1
        cols = [
            c.to_numpy()
            for c in (ev.p.px, ev.p.py, ev.p.pz, ev.p.e, ev.m, ev.id, ev.status, ev.daughter1, ev.daughter2)
        ]
        g = pyhepmc.GenEvent()
        g.event_number = i
        parts = []
        for px, py, pz, e, m, pid, st, _, _ in zip(*cols, strict=False):
            status = (1 if st > 0 else 2) if hepmc_status else int(st)
            p = pyhepmc.GenParticle(pyhepmc.FourVector(px, py, pz, e), int(pid), status)
            p.generated_mass = m
            g.add_particle(p)
            parts.append(p)
        produced = np.zeros(len(parts), bool)
        for k, (d1, d2) in enumerate(zip(cols[7], cols[8], strict=False)):
            lo, hi = (d1, max(d1, d2)) if d1 > 0 else (0, -1)
            kids = [d - 1 for d in range(lo, hi + 1) if d - 1 > k and not produced[d - 1]]
            if kids:
                v = pyhepmc.GenVertex()
                v.add_particle_in(parts[k])
                for d in kids:
                    v.add_particle_out(parts[d])
                    produced[d] = True
                g.add_vertex(v)
        g.run_info = run_info
        g.weights = [w * (1 + 0.01 * i) for w in weights]
        if xsec is not None:
            cs = pyhepmc.GenCrossSection()
            cs.set_cross_section(xsec[0] * (1 + 0.001 * i), xsec[1], i + 1, i + 2)
            g.cross_section = cs
        if units_mev:
            g.set_units(pyhepmc.Units.MEV, pyhepmc.Units.MM)
        out.append(g)
    return out


def small_genevents(n_events: int = 3):
    """A few hand-built pyhepmc GenEvents (no Pythia): two beams -> a two-incoming hard vertex
    (written as an explicit V line) -> a top pair, one top decaying through a one-parent vertex
    (written implicitly as a parent reference). Two weights and a cross section; small enough to
    cut a file of them at every line boundary in a test."""
    import pyhepmc

    run_info = pyhepmc.GenRunInfo()
    run_info.weight_names = ["nominal", "muR2"]
    out = []
    for i in range(n_events):
        g = pyhepmc.GenEvent()
        g.event_number = 100 + i
        g.run_info = run_info
        pz = 6500.0 - i
        b1 = pyhepmc.GenParticle(pyhepmc.FourVector(0, 0, pz, pz), 2212, 4)
        b2 = pyhepmc.GenParticle(pyhepmc.FourVector(0, 0, -pz, pz), 2212, 4)
        t1 = pyhepmc.GenParticle(pyhepmc.FourVector(10.5 + i, -20.25, 100.125, 400.0), 6, 22)
        t2 = pyhepmc.GenParticle(pyhepmc.FourVector(-10.5 - i, 20.25, -50.5, 300.0), -6, 22)
        b = pyhepmc.GenParticle(pyhepmc.FourVector(5.0, -3.0, 40.0, 60.0), 5, 1)
        w = pyhepmc.GenParticle(pyhepmc.FourVector(5.5 + i, -17.25, 60.125, 340.0), 24, 11)
        for p, m in ((b1, 0.938), (b2, 0.938), (t1, 172.5), (t2, 172.5), (b, 4.7), (w, 80.4)):
            p.generated_mass = m
        hard = pyhepmc.GenVertex()
        hard.add_particle_in(b1)
        hard.add_particle_in(b2)
        hard.add_particle_out(t1)
        hard.add_particle_out(t2)
        decay = pyhepmc.GenVertex()
        decay.add_particle_in(t1)
        decay.add_particle_out(b)
        decay.add_particle_out(w)
        g.add_vertex(hard)
        g.add_vertex(decay)
        g.weights = [1.25 * (i + 1), 0.5]
        cs = pyhepmc.GenCrossSection()
        cs.set_cross_section(42.5, 0.25, i + 1, i + 1)
        g.cross_section = cs
        out.append(g)
    return out


SMALL_LHE = """<LesHouchesEvents version="3.0">
<header>
<!-- hand-written test file -->
</header>
<init>
2212 2212 6.500000e+03 6.500000e+03 0 0 247000 247000 -4 1
1.20e+01 3.0e-01 1.0e+00 1
</init>
<event>
 4 1 +2.5e-01 9.1e+01 7.8e-03 1.2e-01
       21 -1    0    0  501  502 +0.0e+00 +0.0e+00 +4.0e+02 4.0e+02 0.0e+00 0.0e+00 9.0e+00
       21 -1    0    0  502  503 -0.0e+00 -0.0e+00 -3.0e+02 3.0e+02 0.0e+00 0.0e+00 9.0e+00
        6  2    1    2  501    0 +1.0e+01 +2.0e+01 +1.0e+02 4.0e+02 1.73e+02 0.0e+00 9.0e+00
       24  1    3    3    0    0 +5.0e+00 +1.0e+01 +5.0e+01 3.4e+02 8.0e+01 0.0e+00 9.0e+00
<rwgt>
<wgt id='1'> 0.3 </wgt>
</rwgt>
</event>
<event>
 2 1 -1.0e+00 9.1e+01 7.8e-03 1.2e-01
       -1 -1    0    0    0  501 0 0 1.0e+01 1.0e+01 0 0 9
        1  1    1    0  501    0 0 0 1.0e+01 1.0e+01 0 0 9
</event>
</LesHouchesEvents>
"""


def small_texts() -> dict[str, str]:
    """format ("hepmc3", "hepmc2", "lhe") -> the text of a small complete file: small_genevents
    written by pyhepmc, and SMALL_LHE."""
    if not _SMALL_TEXTS:
        import tempfile
        from pathlib import Path

        import pyhepmc

        _SMALL_TEXTS["lhe"] = SMALL_LHE
        with tempfile.TemporaryDirectory() as tmp:
            for fmt in ("HepMC3", "HepMC2"):
                path = Path(tmp) / f"small.{fmt.lower()}"
                with pyhepmc.open(path, "w", format=fmt) as f:
                    for g in small_genevents():
                        f.write(g)
                _SMALL_TEXTS[fmt.lower()] = path.read_text()
    return dict(_SMALL_TEXTS)


_SMALL_TEXTS: dict[str, str] = {}
