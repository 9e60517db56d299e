"""The main job: signal events -> detector -> analyses -> yields, CLs, r-values, log-likelihoods.

``run_job(analyses=[...], generate="gluino_direct:1400,1000", n_events=3000, output="out")`` (or
``events=FILE`` or a list of the files of one sample, streamed in chunks / ``slha=FILE, process=...``)
writes ``out/results.json`` and ``out/report.html`` only when everything succeeded (no partial
results files), and returns the results document.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import provenance, xsec
from ._core import ConfigError, RecastError
from .analysis import Analysis, AnalysisResult, run_batches, run_files
from .catalogue import expand_names, status
from .errors import check_count, check_file
from .events import EventBatch
from .io import GZIP_MAGIC, EventFile, HepMC3Writer, as_paths
from .report import run_report
from .statistics import (
    MIN_MC_EVENTS,
    RegionStatistics,
    best_expected,
    read_signal_regions,
    region_statistics,
    unreliable,
)
from .variations import add_sample_members
from .variations import apply as apply_variations
from .variations import resolve as resolve_variations

if TYPE_CHECKING:
    from .pythia import PythiaGenerator

log = logging.getLogger(__name__)

#: simplified model -> cross-section table (and options) for --generate: the production process'
#: NNLO+NNLL (NLO+NLL for higgsinos: the degenerate-triplet sum N1N2 + N1C1 + N2C1 + C1C1)
_XSEC_OF_MODEL: dict[str, tuple[str, dict[str, Any]]] = {
    "gluino_direct": ("gluino", {}),
    "gluino_onestep": ("gluino", {}),
    "squark_direct": ("squark", {"n_squarks": 8}),
    "higgsino_rpv": ("pp13_hino_NLO+NLL", {}),
    "higgsino_rpv_lsp": ("pp13_hino_NLO+NLL", {}),
    "gluino_gtt": ("gluino", {}),  # ATLAS-SUSY-2018-30
    "gluino_gbb": ("gluino", {}),  # ATLAS-SUSY-2018-30
    "gluino_gtb": ("gluino", {}),  # ATLAS-SUSY-2018-30
    "slepton_emu": ("slepton_emu", {}),  # ATLAS-SUSY-2019-02
    "chargino_ww": ("chargino_pair", {}),  # ATLAS-SUSY-2019-02
    "chargino_ww_lep": ("chargino_pair_wlep", {}),  # ATLAS-SUSY-2019-02
}


def parse_generate(spec: str) -> tuple[str, list[float]]:
    """'gluino_direct:1400,1000' -> ("gluino_direct", [1400, 1000]); ConfigError (with the model's
    parameters) for an unknown model or a wrong number of masses."""
    from . import slha

    usage = ", ".join([*(slha.model_usage(m) for m in slha.MODELS), *map(_settings_usage, slha.SETTINGS_MODELS)])
    if ":" not in spec:
        raise ConfigError(f"--generate {spec!r}: expected MODEL:MASSES, one of {usage}")
    model, masses = spec.split(":", 1)
    if model not in slha.MODELS and model not in slha.SETTINGS_MODELS:
        raise ConfigError(f"--generate: unknown model {model!r} (models: {usage})")
    try:
        values = [float(m) for m in masses.split(",")]
    except ValueError:
        raise ConfigError(f"--generate {spec!r}: masses must be numbers (GeV): {slha.model_usage(model)}") from None
    # the number of masses and the spectrum, before Pythia starts
    if model in slha.SETTINGS_MODELS:
        slha.settings_model(model, values)
    else:
        slha.model_spectrum(model, values)
    return model, values


def _settings_usage(model: str) -> str:
    from . import slha

    return f"{model}:{','.join(slha.SETTINGS_MODEL_PARAMETERS[model])}"


def model_cross_section(model: str, masses: Sequence[float], what: str) -> xsec.SampleCrossSection:
    """σ of a simplified model at its masses from the packaged tables (:data:`_XSEC_OF_MODEL`:
    the production process of the first mass), with the table's theory uncertainty; ``what``
    names the request in errors (a model without a table, a mass outside it)."""
    if model not in _XSEC_OF_MODEL:
        raise ConfigError(f"{what}: no cross-section table for {model}; pass --cross-section")
    table, opts = _XSEC_OF_MODEL[model]
    try:
        found = xsec.lookup(table, masses[0], **opts)
    except (ConfigError, ValueError) as e:
        raise ConfigError(f"{what}: no cross section ({e}); pass --cross-section") from e
    return xsec.table_cross_section(found, f"at {masses[0]:g} GeV")


def sample_generator(
    *,
    generate: str | None,
    slha_file: str | os.PathLike[str] | None,
    process: str | None,
    seed: int,
    cross_section: float | str | None,
) -> tuple[PythiaGenerator, float, str]:
    """The generator of a sample to make: (generator, cross section in pb, where it comes from)."""
    gen, xs = _sample_generator(
        generate=generate, slha_file=slha_file, process=process, seed=seed, cross_section=cross_section
    )
    return gen, xs.pb, xs.source


def _sample_generator(
    *,
    generate: str | None,
    slha_file: str | os.PathLike[str] | None,
    process: str | None,
    seed: int,
    cross_section: float | str | xsec.SampleCrossSection | None,
    weight_variations: dict[str, str] | None = None,
    settings: Sequence[str] = (),
) -> tuple[PythiaGenerator, xsec.SampleCrossSection]:
    """:func:`sample_generator` with the cross section's theory uncertainty (a table's, or the
    scale variations of the SLHA file's XSECTION blocks); ``weight_variations`` (member -> Pythia
    UncertaintyBands entry) make the events carry the shower-variation weights, ``settings`` are
    Pythia lines added (a ``sample`` variation)."""
    from .pythia import PythiaGenerator, simplified_model_generator

    given = None if cross_section is None else _given(cross_section)
    if generate is not None:
        model, masses = parse_generate(generate)
        xs = given if given is not None else model_cross_section(model, masses, f"--generate {generate}")
        gen = simplified_model_generator(
            model, *masses, seed=seed, settings=settings, weight_variations=weight_variations
        )
        return gen, xs
    assert slha_file is not None
    from .slha import PROCESSES, checked_spectrum, pythia_settings, read_slha

    if process not in PROCESSES:
        raise ConfigError(f"--slha needs --process, one of: {', '.join(PROCESSES)}")
    if not Path(slha_file).is_file():
        raise ConfigError(f"--slha {slha_file}: no such file")
    read_slha(slha_file)  # InputError naming the file if it is no SLHA file (before "no XSECTION block")
    if given is not None:
        xs = given
    else:
        from_file = xsec.slha_cross_section(slha_file, process)  # the file's XSECTION blocks
        if from_file is None:
            raise ConfigError(
                f"--slha {slha_file}: no XSECTION block for process {process} at 13 TeV; pass --cross-section "
                "(Pythia's LO estimate is not used for limits)"
            )
        xs = from_file
    spectrum = checked_spectrum(slha_file, process)  # InputError naming the file: no/bad MASS block
    gen = PythiaGenerator(
        [*pythia_settings(process), *settings],
        seed=seed,
        slha=str(slha_file),
        check_masses=spectrum,
        weight_variations=weight_variations,
    )
    return gen, xs


def _given(cross_section: float | str | xsec.SampleCrossSection) -> xsec.SampleCrossSection:
    """A cross section passed to run_job (text with a unit, or a number of pb)."""
    if isinstance(cross_section, xsec.SampleCrossSection):
        return cross_section
    return xsec.parse_cross_section(cross_section)


def _written(batches: Iterable[EventBatch], out: HepMC3Writer) -> Iterator[EventBatch]:
    for batch in batches:
        out.write(batch)
        yield batch


def _event_files(events: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    files = as_paths(events)
    if not files:
        raise ConfigError("--events: give at least one event file")
    if any(str(f) == STDIN for f in files):
        if len(files) > 1:
            raise ConfigError("--events -: standard input is the whole sample; give no other file with it")
        return files
    seen: dict[Path, Path] = {}
    for f in files:
        check_file(f, f"--events {f}")
        real = f.resolve()
        if real in seen:
            same = f"{f}" if str(seen[real]) == str(f) else f"{f} (the same file as {seen[real]})"
            raise ConfigError(f"--events: {same} given twice; each part of the sample must be given once")
        seen[real] = f
    _refuse_copies(files)
    return files


#: Bytes hashed at each end of an event file to recognise copies (the whole file if not larger than twice this).
_COPY_SPAN = 1 << 20


def _refuse_copies(files: Sequence[Path]) -> None:
    """ConfigError if two parts of the sample have the same content (a copy under another name:
    the sample would be counted twice). Cheap: only files of the same size are compared, by the
    SHA-256 of their first and last MiB (the whole file if small)."""
    import hashlib

    by_size: dict[int, list[Path]] = {}
    for f in files:
        by_size.setdefault(f.stat().st_size, []).append(f)
    for size, group in by_size.items():
        if len(group) < 2:
            continue
        seen: dict[str, Path] = {}
        for f in group:
            h = hashlib.sha256()
            try:
                with open(f, "rb") as fh:
                    if size <= 2 * _COPY_SPAN:
                        h.update(fh.read())
                    else:
                        h.update(fh.read(_COPY_SPAN))
                        fh.seek(size - _COPY_SPAN)
                        h.update(fh.read(_COPY_SPAN))
            except OSError:
                continue  # unreadable: the reader reports it, naming the file
            key = h.hexdigest()
            if key in seen:
                raise ConfigError(
                    f"--events: {f} has the same content as {seen[key]} (a copy: its events would be counted "
                    "twice); each part of the sample must be given once"
                )
            seen[key] = f


#: ``--events -``: the events come from standard input (HepMC3/HepMC2/LHE, plain or gzip)
STDIN = "-"

#: The tool recast's HepMC3 writer names in the run information of the files it writes (its 'T'
#: line, "recast_ml|VERSION|HepMC3Writer"; :attr:`recast_ml.io.EventFile.tools`).
_RECAST_TOOL = "recast_ml|"


def _recast_version(tools: Iterable[str]) -> str | None:
    """The recast_ml version that a HepMC3 file's run-information tool lines name as its writer,
    else None."""
    return next((t.split("|")[1] for t in tools if t.startswith(_RECAST_TOOL)), None)


def _written_by_recast(path: Path) -> str | None:
    """The recast_ml version that wrote the HepMC3 file (its run-information tool line), else None."""
    import gzip

    tools = []
    try:
        with open(path, "rb") as raw:
            gz = raw.read(2) == GZIP_MAGIC
        with gzip.open(path, "rb") if gz else open(path, "rb") as fh:
            for _, line in zip(range(64), fh, strict=False):
                if line.startswith(b"E "):
                    break
                if line.startswith(b"T "):
                    tools.append(line[2:].decode("utf-8", "replace").strip())
    except (OSError, EOFError):
        return None
    return _recast_version(tools)


def file_cross_section(files: Sequence[Path]) -> xsec.SampleCrossSection | None:
    """σ of a sample that recast wrote itself (``run --write-events``): the GenCrossSection of its
    files, which all carry recast's tool line and the same value, with its relative uncertainty
    (the first file's GenCrossSection error: σ × the theory uncertainty; 0: none known); None for
    files of other writers (their value is usually the generator's LO estimate)."""
    return _agreed_cross_section(_recast_parts(files))


_RecastParts = list[tuple[Path, float, float, str]]


def _recast_parts(files: Sequence[Path]) -> _RecastParts | None:
    """(file, GenCrossSection value and error after its first event, recast_ml version) of each
    file when recast wrote them all, else None (also for standard input: it is read once)."""
    from .io import EventFile

    if any(str(f) == STDIN for f in files):
        return None  # a stream is read once: stream_cross_section looks at it through the run's reader
    versions = [_written_by_recast(f) for f in files]
    if any(v is None for v in versions):
        return None
    parts = []
    for f, version in zip(files, versions, strict=True):
        with EventFile(f) as ef:
            error = ef.read(1).cross_section_error_pb
            parts.append((f, ef.cross_section_pb, error, str(version)))
    return parts


def _positive_values(parts: _RecastParts | None) -> list[float] | None:
    """The GenCrossSection values of recast-written parts, None unless all are finite and > 0."""
    if parts is None:
        return None
    values = [v for _, v, _, _ in parts]
    return values if all(math.isfinite(v) and v > 0 for v in values) else None


def _agreed_cross_section(parts: _RecastParts | None) -> xsec.SampleCrossSection | None:
    """:func:`file_cross_section` of the parts :func:`_recast_parts` found: their common value."""
    values = _positive_values(parts)
    if parts is None or values is None or max(values) != min(values):
        return None
    f, value, error, version = parts[0]
    return _recast_cross_section(value, error, str(f), version)


def _different_cross_sections(parts: _RecastParts | None) -> str | None:
    """The parts of a recast-written sample whose GenCrossSection values differ, listed
    ("a.hepmc3.gz 0.0284 pb, b.hepmc3.gz 0.00101 pb"); None when they agree or are not all
    recast's with a positive value."""
    values = _positive_values(parts)
    if parts is None or values is None or max(values) == min(values):
        return None
    return ", ".join(f"{f} {v:.6g} pb" for f, v, _, _ in parts)


def stream_cross_section(stream: EventFile) -> xsec.SampleCrossSection | None:
    """:func:`file_cross_section` of a sample on standard input (``--events -``), read once: the
    reader's tool lines and the GenCrossSection after the first event (as for a file), which
    :meth:`EventFile.peek` leaves for the run to read (its first chunk is that event and the
    next ``analysis.FILE_CHUNK - 1``, as a file's)."""
    first = stream.peek(1)
    version = _recast_version(stream.tools)
    if version is None or len(first) == 0:
        return None
    return _recast_cross_section(first.cross_section_pb, first.cross_section_error_pb, "standard input", version)


def _recast_cross_section(value: float, error: float, name: str, version: str) -> xsec.SampleCrossSection | None:
    """σ (pb) of a recast-written sample from its GenCrossSection value and error, None if no
    positive value; ``name`` names the file (or standard input) in the source."""
    if not (math.isfinite(value) and value > 0):
        return None
    source = f"GenCrossSection of {name} (written by recast_ml {version})"
    if math.isfinite(error) and error > 0:
        return xsec.SampleCrossSection(value, source, error / value, f"GenCrossSection error of {name}")
    return xsec.SampleCrossSection(value, source)


def analyse(ana: Analysis, result: AnalysisResult) -> dict[str, Any]:
    """Results document of one analysis with statistics for the SRs with published numbers."""
    doc = result.to_dict()
    doc["analysis"]["status"] = status(ana.definition).to_dict()
    published_file = ana.definition.directory / "signal_regions.csv"
    if not published_file.is_file():
        doc["statistics"] = {"note": "no published signal-region numbers for this analysis"}
        return doc
    published = read_signal_regions(published_file)
    names = ana.definition.published_names()
    yields = {name: result.yield_(name) for name in result.cutflows if names.get(name, name) in published}
    # regions that did not run (absent model file): no yields, left out of the statistics
    unavailable = [name for name in result.unavailable if names.get(name, name) in published]
    mc_events = {name: int(result.cutflow(name).n[-1]) for name in yields}
    stats = region_statistics(yields, published, names, mc_events)
    best = best_expected(stats)
    excluded = bool(best and best.cls_obs < 0.05)
    doc["statistics"] = {
        "method": "pyhf uncorrelated-background simplified model (qtilde, asymptotic) solved in closed form by "
        "the native path (within 1% of pyhf), r = s/S95 (published), r_cons = (s - 1.96 x MC error)/S95, "
        "s95_*_model = the model's own 95% CL limits",
        "published": str(published_file.name),
        "min_mc_events": MIN_MC_EVENTS,
        "regions": [s.to_dict() for s in stats],
        "best_expected_region": best.region if best else None,
        "best": best.to_dict() if best else None,
        "excluded_at_95cl": excluded,
        "excluded_at_95cl_conservative": bool(best and best.r_cons_obs is not None and best.r_cons_obs >= 1),
        "verdict": _verdict(best, reliable := _best_reliable(stats, best)),
        **({"best_reliable": reliable.to_dict() if reliable else None} if best and best.low_mc_statistics else {}),
        "combination": "not available: no published full likelihood for these regions",
        "unavailable_regions": unavailable,
    }
    return doc


def _best_reliable(stats: Sequence[RegionStatistics], best: RegionStatistics | None) -> RegionStatistics | None:
    """Where the best expected SR rests on too few MC events: the best expected among the SRs that
    do not (None if none does, or if the best expected SR is not low in MC events)."""
    if best is None or not best.low_mc_statistics:
        return None
    return best_expected([s for s in stats if not s.low_mc_statistics and s.mc_events])


def _cross_check(which: str, region: str, excluded: bool, cls_obs: float, r_cons: float | None) -> str:
    """What the best SR with enough MC events says, where the verdict's SR has too few: "of the SRs
    with at least 10 MC events {which}, {region}, is EXCLUDED (CLs_obs = ..., r_cons = ...)"."""
    return (
        f"of the SRs with at least {MIN_MC_EVENTS} MC events {which}, {region}, is "
        f"{'EXCLUDED' if excluded else 'not excluded'} (CLs_obs = {cls_obs:.4g}"
        + (f", r_cons = {r_cons:.3g}" if r_cons is not None else "")
        + ")"
    )


def _verdict(best: RegionStatistics | None, reliable: RegionStatistics | None = None) -> str:
    """One line on the best expected SR: excluded or not, r and r_cons, and whether its signal
    rests on too few MC events to be trusted (then also what the best expected SR with enough MC
    events, ``reliable``, says: a cross-check, not the verdict's SR)."""
    if best is None:
        return "no signal region with published numbers"
    if best.mc_events == 0 and best.signal == 0:  # the best expected SR is empty: so are all of them
        return (
            "no MC event passes any signal region with published numbers -> not excluded at 95% CL "
            "(zero efficiency measured; a rarer signal needs a larger sample to be seen)"
        )
    text = f"best expected SR: {best.region} -> {'EXCLUDED' if best.cls_obs < 0.05 else 'not excluded'} at 95% CL"
    text += f" (CLs_obs = {best.cls_obs:.4g}"
    if best.r_obs is not None:
        text += f", r_obs = {best.r_obs:.3g}"
    if best.r_cons_obs is not None:
        text += f", r_cons = {best.r_cons_obs:.3g}"
    text += ")"
    warning = unreliable(best.mc_events) if best.low_mc_statistics else None
    if warning:
        text += f"; {warning}"
        if reliable is not None:
            text += "; " + _cross_check(
                "the best expected", reliable.region, reliable.cls_obs < 0.05, reliable.cls_obs, reliable.r_cons_obs
            )
        else:
            text += f"; no SR has {MIN_MC_EVENTS} MC events or more"
    if best.note:
        text += f"; note: {best.note}"
    return text


#: format_version of the run document (schemas/run.schema.json); 2: adds ``provenance`` and the
#: cross section's theory uncertainty (input.cross_section_rel_error*, r/CLs at σ ± 1σ per SR);
#: every field of version 1 is where it was, with the same meaning
RUN_FORMAT_VERSION = 2


def _theory_uncertainty(doc: dict[str, Any], xs: xsec.SampleCrossSection | None) -> None:
    """The cross section's relative uncertainty in an analysis' results, and r/CLs at σ ± 1σ per
    SR and for the best SR (:func:`xsec.theory_variations`)."""
    rel = xs.rel_error if xs is not None else None
    doc["sample"]["cross_section_rel_error"] = rel
    doc["sample"]["cross_section_rel_error_source"] = xs.rel_error_source if xs is not None else None
    st = doc.get("statistics", {})
    if "regions" in st:
        xsec.theory_variations(st["regions"], rel)
        if st.get("best") is not None:
            xsec.theory_variations([st["best"]], rel)


def run_job(
    analyses: list[str],
    *,
    events: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    generate: str | None = None,
    slha: str | os.PathLike[str] | None = None,
    process: str | None = None,
    n_events: int = 3000,
    seed: int = 1,
    cross_section: float | str | None = None,
    cross_section_error: float | str | None = None,
    detector: str | None = None,
    threads: int = 1,
    output: str | os.PathLike[str] = "recast_out",
    progress: bool = False,
    write_events: str | os.PathLike[str] | None = None,
    command_line: Sequence[str] | None = None,
    delphes: str | None = None,
    variations: str | Sequence[str] | None = None,
) -> dict[str, Any]:
    """Runs the analyses on one signal sample and writes ``output/results.json`` and
    ``output/report.html`` (both only when everything succeeded); returns the results document
    (fields: ``docs/results.md``). What ``recast-ml run`` calls.

    Parameters:
        analyses: analysis IDs or definition paths; an entry may be a comma list or ``"all"``
            (every bundled analysis). All run on one detector pass per detector card.
        events: the event file(s) of one sample (HepMC3, HepMC2, LHE; plain or gzip; several
            files are the parts of one sample, streamed in chunks; ``"-"`` reads standard input).
        generate: ``"MODEL:MASSES"``, a simplified model generated in memory with Pythia 8, e.g.
            ``"gluino_direct:1400,1000"`` (masses in GeV; models in ``recast_ml.slha``).
        slha: an SLHA spectrum for Pythia 8 (with ``process``). Exactly one of ``events``,
            ``generate`` and ``slha`` is given.
        process: with ``slha``: the production process (``gluino``, ``squark``, ``higgsino`` or
            ``all``).
        n_events: events to generate (``generate``/``slha``; ignored for ``events``).
        seed: the generator seed.
        cross_section: the signal cross section: a number of pb or text with a unit
            (``"28.4fb"``, ``"0.0284 pb"``; :func:`recast_ml.xsec.parse_cross_section`). Default:
            for ``generate`` the model's NNLO+NNLL (NLO+NLL for electroweakinos) table, for
            ``slha`` the file's XSECTION blocks, for ``events`` the file's GenCrossSection if
            recast_ml wrote the file (a path or ``"-"``: :func:`stream_cross_section`);
            otherwise required.
        cross_section_error: its relative theory uncertainty (``"10%"``, ``0.1``, ``"2.8fb"``;
            :func:`recast_ml.xsec.parse_cross_section_error`); tables and XSECTION blocks carry
            their own. With an uncertainty every SR also gets r and CLs at σ ± 1σ.
        detector: a detector card name or file; default: each analysis' own card.
        threads: threads for the detector emulation and the analyses.
        output: folder for ``results.json`` and ``report.html`` (created).
        progress: show a progress bar.
        write_events: with ``generate``/``slha``: also write the sample as HepMC3 (``.gz``:
            compressed) with the cross section used for the yields and the weight variations'
            weights, to run it again later (with the same ``variations``).
        command_line: recorded in the provenance (the CLI passes its arguments; None from the API).
        delphes: for Delphes ROOT files in ``events`` (detected by content): ``"objects"`` (the
            Delphes objects, no detector emulation; the results list how they differ from the
            card's) or ``"truth"`` (the Particle branch through recast's emulation); see
            :mod:`recast_ml.delphes`. Default (None): ``"objects"``; given with any other input
            (HepMC, LHE, standard input, ``generate``, ``slha``) it is a ConfigError.
        variations: generator variations of the signal sample (:mod:`recast_ml.variations`:
            names such as ``"isr,fsr,xsec"``, ``"default"``, ``"all"``, or a user YAML file):
            every SR gets each member's yield, the envelope as a profiled signal uncertainty
            (CLs_syst, ln L, r_cons_syst) and the verdict whether the exclusion holds under all
            of them. Weight members ride on the nominal sample (Pythia's shower-variation
            weights); sample members generate one more sample each (same seed). With ``events``
            the cross-section variation and the weight members whose weights the files carry by
            name (a sample written by ``write_events`` with the same weight variations; a
            ConfigError names the weights missing), not sample members.

    Raises ``ConfigError`` for inconsistent options or an unknown analysis, ``InputError`` for a
    bad event file, ``ModelError`` for a model that cannot be run."""
    t0 = time.perf_counter()
    check_count("threads", threads, 1)
    if events is None:
        check_count("n_events", n_events, 1)
    analyses = expand_names(analyses)  # "all", comma lists
    if not analyses:
        raise ConfigError("give at least one --analysis")
    loaded = [Analysis.load(a, detector=detector) for a in analyses]  # fail early on unknown IDs
    if sum(x is not None for x in (events, generate, slha)) != 1:
        raise ConfigError("give exactly one of --events FILE, --generate MODEL:MASSES, --slha FILE")
    if process is not None and slha is None:  # it would be silently ignored
        other = "--generate's model has its own process" if generate is not None else "--events are events already"
        raise ConfigError(f"--process {process}: --process goes with --slha ({other})")
    vset = resolve_variations(variations)
    if events is not None and vset.sample_members:
        raise ConfigError(
            f"--variations {','.join(v.name for v in vset.variations if v.kind == 'sample')}: sample variations "
            f"({', '.join(vset.sample_members)}) generate a sample of their own, which needs a generated nominal "
            "sample (--generate or --slha); with --events only 'xsec' and the weight variations whose weights the "
            "files carry are possible"
        )
    given = None if cross_section is None else xsec.parse_cross_section(cross_section)
    if cross_section_error is not None and given is None:
        raise ConfigError(
            "--cross-section-error goes with --cross-section (tables and XSECTION blocks carry their own)"
        )
    if given is not None and cross_section_error is not None:
        rel = xsec.parse_cross_section_error(cross_section_error, given.pb)
        given = given.with_error(rel, f"--cross-section-error {cross_section_error}")
    gen: PythiaGenerator | None = None
    files: list[Path] = []
    delphes_notes: list[dict[str, Any]] = []
    _check_delphes_option(delphes)
    if delphes is not None and events is None:
        raise ConfigError(
            f"--delphes {delphes} applies to Delphes ROOT files in --events; "
            f"{'--generate' if generate is not None else '--slha'} makes its own events"
        )
    from .export.outputs import check_output_folder

    check_output_folder(output)  # before the events are read: a bad -o fails now, not after the run
    if events is not None:
        files = _event_files(events)
        if write_events is not None:
            raise ConfigError("--write-events keeps a generated sample; with --events the sample is a file already")
        given, results, delphes_notes = _run_events(
            loaded, files, given, vset, delphes=delphes, threads=threads, progress=progress
        )
        xs, xs_source = given.pb, given.source
    else:
        gen, given = _sample_generator(
            generate=generate,
            slha_file=slha,
            process=process,
            seed=seed,
            cross_section=given,
            weight_variations=vset.weight_members,
        )
        xs, xs_source = given.pb, given.source
        _check_cross_section_variation(vset, given)
        # generated, analysed (and written) in chunks: the events in memory are one chunk whatever n_events
        batches = gen.batches(n_events, progress=progress)
        weights = list(vset.weight_members)
        if write_events is None:
            results = run_batches(loaded, batches, cross_section=xs, threads=threads, variations=weights)
        else:
            xs_err = xs * given.rel_error if given.rel_error is not None else 0.0
            with HepMC3Writer(write_events, cross_section_pb=xs, cross_section_error_pb=xs_err) as writer:
                results = run_batches(
                    loaded, _written(batches, writer), cross_section=xs, threads=threads, variations=weights
                )

        def varied(member: str, lines: list[str]) -> list[AnalysisResult]:  # one more sample, same seed
            log.info("variation %s: generating %d events with %s", member, n_events, "; ".join(lines))
            vgen, _ = _sample_generator(
                generate=generate, slha_file=slha, process=process, seed=seed, cross_section=given, settings=lines
            )
            return run_batches(loaded, vgen.batches(n_events, progress=progress), cross_section=xs, threads=threads)

        add_sample_members(results, vset, varied)
    docs = []
    for k, (ana, res) in enumerate(zip(loaded, results, strict=True)):
        doc = analyse(ana, res)
        doc["sample"]["cross_section_source"] = xs_source
        _theory_uncertainty(doc, given)
        if vset and "statistics" in doc:
            apply_variations(doc["statistics"], res, vset, given.rel_error if given else None)
        if delphes_notes:  # Delphes input: where the objects come from, how they differ from the card's
            doc["sample"].update(delphes_notes[k])
        docs.append(doc)
    summary = {
        "format": "recast_ml/run",
        "format_version": RUN_FORMAT_VERSION,
        "input": {
            "events": [str(f) for f in files] or None,
            "generate": generate,
            "slha": str(slha) if slha else None,
            "process": process,
            "n_events": results[0].n_events,
            "seed": seed,
            "cross_section_pb": xs,
            "cross_section_source": xs_source,
            "cross_section_rel_error": given.rel_error if given else None,
            "cross_section_rel_error_source": given.rel_error_source if given else None,
            "variations": vset.to_dict() if vset else None,
        },
        "analyses": docs,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    summary["verdict"] = overall_verdict(summary)
    summary["provenance"] = provenance.collect(loaded, seed=seed, generator=gen, command_line=command_line)
    from .export import outputs as exports

    out = Path(output)
    tmp = exports.staging_folder(out, ".recast_run_")
    try:
        summary["outputs"] = exports.write_run_exports(summary, loaded, tmp, results)  # pyhf/, hepdata/, YODA
        (tmp / "results.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
        (tmp / "report.html").write_text(run_report(summary, loaded, results))
        try:
            out.mkdir(exist_ok=True)
            exports.replace_folders(tmp, out, exports.RUN_FOLDERS)
            for name in ("results.json", "report.html"):
                os.replace(tmp / name, out / name)
        except OSError as e:
            raise ConfigError(f"-o {out}: {exports.output_path_problem(out, e)}") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary


def _run_events(
    loaded: list[Analysis],
    files: list[Path],
    given: xsec.SampleCrossSection | None,
    vset: Any,
    *,
    delphes: str | None,
    threads: int,
    progress: bool,
) -> tuple[xsec.SampleCrossSection, list[AnalysisResult], list[dict[str, Any]]]:
    """The analyses on the event files of one sample (or standard input, or Delphes ROOT files):
    (the cross section used, the results, the Delphes notes per analysis)."""
    from .delphes import DEFAULT_PATH, root_inputs, run_delphes

    is_root = root_inputs(files)
    if delphes is not None and not is_root:
        raise ConfigError(f"--delphes {delphes} applies to Delphes ROOT files; {_not_root(files[0])}")
    # standard input is read once: σ from its first events (peeked), which the run then reads
    stream = EventFile(STDIN, threads=threads) if str(files[0]) == STDIN else None
    try:
        # the recast-written parts, read once for their cross section or for the message why not
        parts = None if stream is not None or is_root else _recast_parts(files)
        from_file = stream_cross_section(stream) if stream is not None else _agreed_cross_section(parts)
        if given is not None:
            if from_file and not math.isclose(from_file.pb, given.pb, rel_tol=1e-9):
                log.warning("%s used, not the %s: %g pb", given.source, from_file.source, from_file.pb)
        elif from_file is not None:
            given = from_file
        elif stream is not None:
            raise ConfigError(
                "standard input (--events -): a cross section is needed to compute yields: pass --cross-section "
                "with a unit (e.g. 28.4fb); only a stream written by recast-ml (its run information names "
                "recast_ml) gives its own, through its GenCrossSection; another generator's value is not used "
                "(it is usually LO)"
            )
        elif (differ := _different_cross_sections(parts)) is not None:
            raise ConfigError(
                f"the parts of the sample, written by recast_ml, carry different cross sections (GenCrossSection: "
                f"{differ}); one sample has one: pass --cross-section with a unit (e.g. 28.4fb) to say which"
            )
        else:
            raise ConfigError(
                f"{files[0]}: a cross section is needed to compute yields: pass --cross-section with a unit "
                "(e.g. 28.4fb); the generator's value in the file is not used (it is usually LO)"
            )
        _check_cross_section_variation(vset, given)
        members = list(vset.weight_members)
        if members:
            _check_file_weights(members, is_root, stream, files)
        # streamed in chunks: memory bounded whatever the sample size
        if is_root:
            results, notes = run_delphes(
                loaded, files, how=delphes or DEFAULT_PATH, cross_section=given.pb, threads=threads, progress=progress
            )
            return given, results, notes
        inputs = [stream] if stream is not None else files
        results = run_files(
            loaded, inputs, cross_section=given.pb, threads=threads, progress=progress, variations=members
        )
        return given, results, []
    finally:
        if stream is not None:
            stream.close()


def _check_file_weights(members: list[str], is_root: bool, stream: EventFile | None, files: list[Path]) -> None:
    """The weight members of ``--variations`` with ``--events``: each file (or standard input)
    must carry a weight of each member's name (its first events tell): else a ConfigError naming
    the weights missing and those the file has."""
    names = ",".join(members)
    if is_root:
        raise ConfigError(
            f"--variations: the weight variations ({names}) need their weights in the event file; Delphes ROOT "
            "files carry none (only 'xsec' is possible with them)"
        )
    for f in [stream] if stream is not None else files:
        if isinstance(f, EventFile):
            first, name = f.peek(1), "standard input"  # peeked already for its cross section
        else:
            with EventFile(f) as ef:
                first, name = ef.read(1), str(f)
        if len(first) == 0:
            continue  # no events: run_files says so
        missing = [m for m in members if m not in first.variation_weights]
        if missing:
            has = ", ".join(first.variation_weights) or "none besides the nominal weight"
            raise ConfigError(
                f"--variations: {name} carries no weight {', '.join(missing)} (its further weights: {has}); "
                "weight variations with --events need a sample written with them (recast-ml run --generate/--slha "
                f"... --variations ... --write-events FILE), else drop them from --variations"
            )


def _check_delphes_option(delphes: str | None) -> None:
    from .delphes import PATHS

    if delphes is not None and delphes not in PATHS:
        raise ConfigError(f"--delphes {delphes!r}: expected one of {', '.join(PATHS)}")


def _not_root(path: Path) -> str:
    """What an event input that is not a Delphes ROOT file is, for messages ("F is a HepMC3 file")."""
    from .io import EventFile

    if str(path) == STDIN:
        return "standard input (--events -) is read as HepMC3, HepMC2 or LHE, never as a Delphes ROOT file"
    try:
        with EventFile(path) as f:
            return f"{path} is a {_FORMAT_NAMES.get(f.format, f.format)} file"
    except (RecastError, OSError):
        return f"{path} is not a ROOT file"


_FORMAT_NAMES = {"hepmc3": "HepMC3", "hepmc2": "HepMC2", "lhe": "LHE"}


def _check_cross_section_variation(vset: Any, given: xsec.SampleCrossSection) -> None:
    """The ``xsec`` variation needs the cross section's theory uncertainty: refused before the run."""
    if vset.cross_section and given.rel_error is None:
        raise ConfigError(
            f"--variations xsec: the cross section ({given.source}) has no theory uncertainty; give "
            "--cross-section-error, or leave 'xsec' out of --variations"
        )


def _json_default(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x)}")


def overall_verdict(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The verdict of the whole run (``results.json`` ``verdict``): the report's, decided by the
    most sensitive analysis' best expected SR (:func:`recast_ml.report.deciding`, on expected
    sensitivity, never on the observed result): its text, analysis, SR and whether its signal rests
    on fewer than the minimum MC events."""
    from .report import deciding, deciding_reliable, verdict_text

    d = deciding(summary)
    out: dict[str, Any] = {
        "text": verdict_text(summary),
        "analysis": d[0]["analysis"]["id"] if d else None,
        "region": d[1].get("region") if d else None,
        "low_mc_statistics": bool(d[1].get("low_mc_statistics")) if d else None,
        "analyses": len(summary.get("analyses", [])),
    }
    if d and d[1].get("low_mc_statistics"):
        rel = deciding_reliable(summary)
        out["reliable"] = (
            {
                "analysis": rel[0]["analysis"]["id"],
                "region": rel[1].get("region"),
                "excluded": bool(rel[1].get("cls_obs", 1.0) < 0.05),
                "cls_obs": rel[1].get("cls_obs"),
                "r_cons_obs": rel[1].get("r_cons_obs"),
            }
            if rel
            else None
        )
    return out


def format_summary(summary: dict[str, Any], cutflow_regions: int = 3) -> str:
    """Text printed by `recast-ml run`: cutflows of the best regions, CLs and r per SR."""
    from .delphes import summary_lines

    lines = []
    inp = summary["input"]
    lines.append(f"{inp['n_events']} events, sigma = {inp['cross_section_pb']:.4g} pb ({inp['cross_section_source']})")
    rel = inp.get("cross_section_rel_error")
    if rel is not None:
        lines.append(f"theory uncertainty of sigma: ±{100 * rel:.3g}% ({inp.get('cross_section_rel_error_source')})")
    elif "cross_section_rel_error" in inp:
        lines.append("theory uncertainty of sigma: none given (r at sigma ± 1 sigma not computed)")
    for doc in summary["analyses"]:
        aid = doc["analysis"]["id"]
        lines.append(f"\n=== {aid}")
        status_line = (
            f"  [{aid} validation status: {doc['analysis']['status']['text']}]" if "status" in doc["analysis"] else ""
        )
        st = doc.get("statistics", {})
        regions = st.get("regions", [])
        best = st.get("best_expected_region")
        show = [best] if best else []
        show += [
            r["region"]
            for r in sorted(regions, key=lambda r: -(r["r_exp"] or 0))[:cutflow_regions]
            if r["region"] != best
        ]
        if not regions and doc["regions"]:  # no SR statistics: the regions keeping most signal
            by_yield = sorted(
                (r for r in doc["regions"] if r["cutflow"]), key=lambda r: -(r["cutflow"][-1].get("yield") or 0)
            )
            show = [r["name"] for r in by_yield[:cutflow_regions]]
            # "regions" absent: no published numbers; present but empty: none of their SRs ran
            why = "no published SR numbers" if "regions" not in st else "no SR with published numbers ran"
            if show:
                lines.append(f"({why}: the cutflows of the {len(show)} regions with the largest yield)")
        for reg in doc["regions"]:
            if reg["name"] in show[:cutflow_regions]:
                lines.append(f"cutflow {reg['name']}:")
                for s in reg["cutflow"]:
                    lines.append(
                        f"  {s['name'][:38]:<38} {s['n']:>7d} {s['efficiency_cumulative']:>9.4f} "
                        f"{s.get('yield', float('nan')):>10.3f} ± {s.get('yield_error', float('nan')):.3f}"
                    )
        if regions:
            lines.append(
                f"{'SR':<16} {'s':>9} {'±':>7} {'MC ev':>6} {'n_obs':>7} {'b':>9} "
                f"{'CLs_obs':>8} {'CLs_exp':>8} {'r_obs':>7} {'r_exp':>7} {'r_cons':>7}"
            )
            for r in regions:
                mark = " <- best expected" if r["region"] == best else ""
                if r.get("low_mc_statistics"):
                    mark += f" (< {st.get('min_mc_events', MIN_MC_EVENTS)} MC events)"
                r_obs, r_exp, r_cons = (_num(r.get(k), ".3f") for k in ("r_obs", "r_exp", "r_cons_obs"))
                mc = "-" if r.get("mc_events") is None else str(r["mc_events"])
                lines.append(
                    f"{r['region']:<16} {r['signal']:>9.3f} {r['signal_error']:>7.3f} {mc:>6} {r['n_obs']:>7g} "
                    f"{r['b']:>9.4g} {r['cls_obs']:>8.4f} {r['cls_exp']:>8.4f} {r_obs:>7} {r_exp:>7} {r_cons:>7}{mark}"
                )
            lines.append((st.get("verdict") or _verdict(None)) + status_line)
            lines += _theory_lines(regions, show[:cutflow_regions], rel)
            lines += _variation_lines(regions, show[:cutflow_regions], st.get("variations"))
        else:
            lines.append(st.get("note", "no statistics") + status_line)
        lines += _unavailable_lines(doc)
        lines += summary_lines(doc.get("sample", {}))
    v = summary.get("verdict")
    if v and v.get("analyses", 0) > 1:  # several analyses: which one decides
        lines.append(f"\n=== all {v['analyses']} analyses: {v['text']}")
        if v.get("analysis"):
            few_mc = " (its signal rests on too few MC events)" if v.get("low_mc_statistics") else ""
            lines.append(
                f"decided by {v['analysis']} {v['region']}{few_mc}: the most sensitive best expected SR "
                "of all analyses (largest expected r)"
            )
            if v.get("low_mc_statistics"):
                rel = v.get("reliable")
                if rel:
                    where = f"{rel['analysis']} {rel['region']}"
                    text = _cross_check("the most sensitive", where, rel["excluded"], rel["cls_obs"], rel["r_cons_obs"])
                    lines.append(f"cross-check: {text}")
                else:
                    lines.append(f"cross-check: no SR has at least {MIN_MC_EVENTS} MC events")
    return "\n".join(lines)


def _theory_lines(regions: list[dict[str, Any]], show: list[str], rel: float | None) -> list[str]:
    """r and CLs at sigma -1 / +1 sigma (theory uncertainty) of the shown SRs (the best first)."""
    if rel is None:
        return []
    by_name = {r["region"]: r for r in regions}
    lines = [f"at sigma x (1 -/+ {rel:.3g}): {'SR':<16} {'r_obs':>15} {'r_exp':>15} {'CLs_obs':>17}"]
    for name in show:
        r = by_name.get(name)
        if r is None or "r_obs_up" not in r:
            continue
        pair = [
            f"{_num(r.get(k + '_down'), fmt)} / {_num(r.get(k + '_up'), fmt)}"
            for k, fmt in (("r_obs", ".3f"), ("r_exp", ".3f"), ("cls_obs", ".4f"))
        ]
        lines.append(f"{'':<24}{name:<16} {pair[0]:>15} {pair[1]:>15} {pair[2]:>17}")
    return lines if len(lines) > 1 else []


def _variation_lines(regions: list[dict[str, Any]], show: list[str], v: dict[str, Any] | None) -> list[str]:
    """Each variation member's yield in the shown SRs, the envelope and CLs with it profiled."""
    if not v or not v.get("members"):
        return []
    members = list(v["members"])
    lines = [
        f"signal variations ({', '.join(v['names'])}): "
        + f"{'SR':<16} {'nominal':>9} "
        + " ".join(f"{m:>10}" for m in members)
        + f" {'envelope':>15} {'CLs_obs':>8} {'CLs_syst':>8}"
    ]
    by_name = {r["region"]: r for r in regions}
    for name in show:
        r = by_name.get(name)
        if r is None or "signal_variations" not in r:
            continue
        ys = " ".join(f"{r['signal_variations'][m]['signal']:>10.3f}" for m in members)
        env = f"+{100 * r['signal_rel_up']:.1f}/-{100 * r['signal_rel_down']:.1f}%"
        lines.append(
            f"{'':<{len(lines[0].split(':')[0]) + 2}}{name:<16} {r['signal']:>9.3f} {ys} {env:>15} "
            f"{r['cls_obs']:>8.4f} {r['cls_obs_syst']:>8.4f}"
        )
    return lines if len(lines) > 1 else []


def _unavailable_lines(doc: dict[str, Any]) -> list[str]:
    """The regions that did not run, grouped by reason (one line per reason)."""
    by_reason: dict[str, list[str]] = {}
    for u in doc.get("unavailable_regions", []):
        by_reason.setdefault(u["reason"], []).append(u["name"])
    return [f"UNAVAILABLE ({len(v)} regions, no yields): {', '.join(v)} -- {k}" for k, v in by_reason.items()]


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)
