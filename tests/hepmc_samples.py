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
