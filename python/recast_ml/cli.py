"""recast-ml: re-run preserved LHC analyses, including their ML selections, on new signal events.

Event files (HepMC2/3, LHE, plain or gzip) or events generated in memory with Pythia 8 go through a
detector emulation and the analysis definitions (cutflows, signal-region yields, ONNX Runtime
inference in C++); the statistics give CLs and r = s/S95 per signal region, written to
results.json and report.html.

Conventions shared by every command: --events takes event files, -n/--n-events a number of
events, --analysis (or the ANALYSIS argument) an analysis ID, a definition path, a comma list of
them or 'all' (every bundled analysis). 'recast-ml COMMAND --help' describes a command."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import re
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import __version__, _core
from ._core import ConfigError

if TYPE_CHECKING:
    from .scan import ScanPoint, ScanSummary

log = logging.getLogger("recast_ml.cli")

DEMO_MODEL = "ATLAS-HIGP-2024-32/models/ANA-HIGP-2024-32_nonresDNN_model_even"


def _cmd_info(args: argparse.Namespace) -> int:
    from . import _ort

    rows: list[tuple[str, str]] = [
        ("recast_ml", __version__),
        ("recast core", _core.version()),
        ("FastJet (linked)", _core.fastjet_version()),
        ("ONNX Runtime headers", f"C API v{_core.onnxruntime_header_api_version()}"),
    ]
    try:
        ort = _ort.info()
        rows += [
            ("ONNX Runtime", f"{ort['version']} (C API v{ort['api_version']} in use)"),
            ("ONNX Runtime library", str(ort["library"])),
        ]
    except _core.DependencyError as err:
        rows.append(("ONNX Runtime", f"NOT AVAILABLE: {err}"))
    from ._data import analyses_dir, cards_dir

    rows += [
        ("CMake package dir (recast_DIR)", str(Path(__file__).parent / "cmake" / "recast")),
        ("detector cards", str(cards_dir())),
        ("analyses", str(analyses_dir())),
    ]
    for mod in ("numpy", "awkward", "pythia8mc"):
        try:
            from importlib.metadata import version

            rows.append((mod, version(mod)))
        except Exception:  # pragma: no cover - reporting only
            rows.append((mod, "not installed"))
    if args.json:
        print(json.dumps(dict(rows), indent=2))
    else:
        width = max(len(k) for k, _ in rows)
        for k, v in rows:
            print(f"{k:<{width}}  {v}")
    return 0


def _cmd_models_inspect(args: argparse.Namespace) -> int:
    from .models import describe, format_description

    info = describe(args.model)
    print(json.dumps(info, indent=2) if args.json else format_description(info))
    return 0


def _cmd_models_convert(args: argparse.Namespace) -> int:
    from .convert import FORMATS
    from .models import _convert_file

    out, fmt = _convert_file(args.source, args.target)
    print(f"{args.source} ({FORMATS[fmt]}) -> {out}")
    return 0


def _cmd_models_check(args: argparse.Namespace) -> int:
    from .models import check_model

    res = check_model(args.card, args.features, args.expected, normalised=args.normalised)
    print(f"model {res.model}: {res.n_rows} feature vectors")
    if args.expected is None:
        for name, v in res.values.items():
            print(f"  {name}: mean {np.nanmean(v):.6g}, min {np.nanmin(v):.6g}, max {np.nanmax(v):.6g}")
        return 0
    for name, dev in res.max_deviation.items():
        k = res.worst_row[name]  # the file lines of the row: comment lines counted
        at = f"line {res.expected_lines[k]} of {args.expected}" if res.expected_lines else f"row {k + 1}"
        fed = f"; features: line {res.feature_lines[k]} of {args.features}" if res.feature_lines else ""
        print(f"  {name}: max |deviation| {dev:.3g} ({at}{fed})")
    ok = res.passed(args.tolerance)
    print(f"  {'PASS' if ok else 'FAIL'} at tolerance {args.tolerance:g}")
    return 0 if ok else 1


VARIATIONS_HELP = (
    "generator variations of the signal sample: isr, fsr (Pythia's in-run shower-variation weights: no extra "
    "events), isr_damped (one more sample), xsec (the cross section's theory uncertainty); 'default' = "
    "isr,fsr,xsec, 'all' adds isr_damped; a YAML file adds your own (format: recast_ml/variations.yaml). Every SR "
    "gets each variation's yield, the envelope as a profiled signal uncertainty and a verdict on whether the "
    "exclusion holds under all of them; `recast-ml variations` lists them"
)


def _cmd_run(args: argparse.Namespace) -> int:
    from .run import format_summary, run_job

    if args.events is not None and args.n_events is not None:
        # a count with files would be silently ignored (the whole sample is read): refuse it
        raise ConfigError(
            "-n/--n-events counts events to generate (--generate, --slha); with --events the files are read whole"
        )
    summary = run_job(
        args.analysis or [],
        events=args.events,
        generate=args.generate,
        slha=args.slha,
        process=args.process,
        n_events=3000 if args.n_events is None else args.n_events,
        seed=args.seed,
        cross_section=args.cross_section,
        cross_section_error=args.cross_section_error,
        detector=args.detector,
        threads=args.threads,
        output=args.output,
        progress=not args.no_progress,
        write_events=args.write_events,
        command_line=getattr(args, "command_line", None),
        delphes=args.delphes,
        variations=args.variations,
    )
    print(format_summary(summary))
    print(f"\nresults: {args.output / 'results.json'}, report: {args.output / 'report.html'} ({summary['seconds']} s)")
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    from .scan import ScanInterrupted, grid_points, run_scan, slha_points

    meta: dict[str, object]
    if args.model is not None:
        if not args.grid:
            raise ConfigError("--model needs --grid, e.g. --grid 'm_gluino=1000:2600:100 m_lsp=0:1600:100'")
        if args.process:
            raise ConfigError("--process goes with --slha; a simplified model has its own process")
        points, forbidden = grid_points(args.model, args.grid)
        for key, why in forbidden:
            log.info("skipped (kinematically forbidden): %s: %s", key, why)
        params = [n for n, _ in points[0].params] if points else []
        meta = {"model": args.model, "parameters": params, "grid": " ".join(args.grid.split())}
    else:
        if args.grid:
            raise ConfigError("--grid goes with --model; an SLHA scan runs one point per file")
        points, forbidden = slha_points(args.slha, args.process or ""), []
        meta = {"model": None, "parameters": [], "process": args.process}
    if not points:
        raise ConfigError("no allowed point in the scan (all kinematically forbidden?)")
    print(f"{len(points)} points ({len(forbidden)} kinematically forbidden, skipped) -> {args.output / 'scan.sqlite'}")
    options: dict[str, Any] = {
        "analyses": args.analysis or ["all"],
        "n_events": args.n_events,
        "output": args.output,
        "seed": args.seed,
        "meta": meta,
        "scheduler": args.scheduler,
        "workers": args.workers,
        "threads_per_worker": args.threads_per_worker,
        "memory_limit": args.memory_limit,
        "detector": args.detector,
        "retries": args.retries,
        "progress": not args.no_progress,
        "variations": args.variations,
    }
    if args.variations:
        from .scan import variations_cost
        from .variations import resolve

        print(f"variations: {variations_cost(resolve(args.variations), args.n_events)}")
    summary = run_scan(points, forbidden=len(forbidden), **options)
    try:
        return _scan_outputs(args, points, options, summary)
    except ScanInterrupted:
        raise
    except KeyboardInterrupt:  # the points all ran: only the outputs (or a refinement round) stopped
        raise ScanInterrupted(
            f"after the points ran, while writing the outputs; {summary.store} keeps them: run the same command "
            "again to write the outputs"
        ) from None


def _scan_outputs(
    args: argparse.Namespace, points: Sequence[ScanPoint], options: dict[str, Any], summary: ScanSummary
) -> int:
    """The refinement rounds (``--refine``), then the report, contours, efficiency maps and the
    terminal summary of a scan whose points ran."""
    from .scan import refine
    from .scan_outputs import write_report

    if args.refine is not None:
        if args.model is None:
            raise ConfigError("--refine needs a --model grid")
        extras = refine(points, tolerance=args.refine, rounds=args.refine_rounds, **options)
        for extra in extras:
            summary.done += extra.done
            summary.failed += extra.failed
            summary.seconds += extra.seconds
            summary.failures.update(extra.failures)
        added = sum(extra.done + extra.failed for extra in extras)
        print(f"refinement: {len(extras)} round(s), {added} points added near the observed CLs = 0.05 contour")
    from .scan import ScanStore
    from .scan_outputs import summary_lines

    store = ScanStore(summary.store)
    report = write_report(store, args.output)
    lines = summary_lines(store)
    store.close()
    if args.model is not None:
        from .effmap import export_efficiency_maps

        try:
            maps = export_efficiency_maps(summary.store, args.output / "efficiency_maps")
            print(f"efficiency maps: {len(maps)} in {args.output / 'efficiency_maps'}")
        except ConfigError as e:  # too few points to triangulate: the scan itself is fine
            log.warning("no efficiency maps: %s", e)
    print(
        f"{summary.done} points done now, {summary.skipped_done} done before, {summary.failed} failed "
        f"({summary.seconds:.1f} s); store {summary.store}, report {report}"
    )
    print("\n".join(lines))
    for key, error in summary.failures.items():
        print(f"  failed: {key}: {error}")
    return 0 if not summary.failures else 1


def _cmd_analyses_list(args: argparse.Namespace) -> int:
    from .analysis import available, find_definition, load_definition
    from .catalogue import status

    rows = []
    for name in available():
        d = load_definition(find_definition(name))
        info = d.info
        rows.append(
            (
                name,
                f"{info.get('experiment', '')} {info.get('sqrt_s', '')} TeV {info.get('luminosity', '')} fb-1",
                f"{len(d.doc['regions'])} regions, {len(d.doc.get('models', {}))} models",
                status(d).text,
                str(info.get("title", "")),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(f"{r[i]:<{widths[i]}}" for i in range(4)) + f"  {r[4]}")
    return 0


def _analysis_names(text: str) -> list[str]:
    """The ANALYSIS argument of validate / analyses show / definition resolve: an ID, a definition
    path, a comma list or 'all' (catalogue.expand_names, as --analysis of run and scan)."""
    from .catalogue import expand_names

    names = expand_names([text])
    if not names:
        raise ConfigError(f"no analysis in {text!r}: give an analysis ID, a definition path, a comma list or 'all'")
    return names


def _cmd_analyses_show(args: argparse.Namespace) -> int:
    for n, name in enumerate(_analysis_names(args.analysis)):
        if n:
            print()
        _show_analysis(name)
    return 0


def _show_analysis(name: str) -> None:
    from .analysis import find_definition, load_definition
    from .catalogue import published_regions, status

    d = load_definition(find_definition(name))
    title = d.info.get("title") or d.info.get("description")
    print(f"{d.id}: {title}" if title else d.id)
    for key in ("experiment", "arxiv", "inspire", "hepdata", "sqrt_s", "luminosity", "detector"):
        if key in d.info:
            print(f"  {key:<11} {d.info[key]}")
    print(f"  definition  {d.path}")
    absent = d.unavailable_models()
    for name, card in d.doc.get("models", {}).items():
        outs = ", ".join(f"{name}.{o}" for o in card["outputs"])
        state = f" -- UNAVAILABLE: {absent[str(name)]}" if str(name) in absent else ""
        print(f"  model {name}: {len(card['files'])} file(s), outputs {outs}{state}")
    st = status(d)
    print(f"  status      {st.text}" + (f" ({st.summary_file})" if st.summary_file else ""))
    cuts = d.region_cuts()
    gone = d.unavailable()
    published = published_regions(d)
    for r in d.doc["regions"]:
        name = str(r["name"])
        pub = f" (published as {r['published']})" if "published" in r else ""
        numbers = "; published: " + ", ".join(published[name]) if published.get(name) else ""
        last = f", last: {cuts[name][-1][0]}" if cuts[name] else ""
        line = f"  region {name}{pub}: {len(cuts[name])} cuts{last}{numbers}"
        print(line + (f" -- UNAVAILABLE: {gone[name]}" if name in gone else ""))
    if gone:
        print(f"  {len(gone)} of {len(d.doc['regions'])} regions unavailable (they run once the model files are there)")


def _cmd_definition_resolve(args: argparse.Namespace) -> int:
    import shutil

    from .analysis import check_resolved, find_definition, load_definition
    from .definition_lang import element_error
    from .export.outputs import output_path_problem, staging_folder

    names = _analysis_names(args.analysis)
    for name in names:  # several analyses: one folder DIR/<ID> each
        d = load_definition(find_definition(name))
        target = args.output if len(names) == 1 else args.output / str(d.id)
        # resolved and compiled in a temporary folder beside the target, moved there only when it
        # compiles: a definition with an error writes nothing (and leaves a good earlier one)
        tmp = staging_folder(target, ".recast_resolve_")
        try:
            try:
                check_resolved(d.resolve(tmp), detector=args.detector)
            except ConfigError as e:  # in an element of a list-valued input: the error says what is written
                element = element_error(e, d.doc, d.path)
                if element is None:
                    raise
                raise element from e
            out = target / "definition.json"
            try:
                (target / "models").mkdir(parents=True, exist_ok=True)
                for f in sorted((tmp / "models").iterdir()):  # named by their SHA-256: same name, same bytes
                    os.replace(f, target / "models" / f.name)
                os.replace(tmp / "definition.json", out)
            except OSError as e:
                raise ConfigError(f"-o {target}: {output_path_problem(target, e)}") from e
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        doc = json.loads(out.read_text())
        n_models = len({f["path"] for m in doc["models"] for f in m["files"]})
        gone = f", {len(doc['unavailable'])} unavailable (model file absent)" if doc.get("unavailable") else ""
        print(f"{d.id}: {out} ({len(doc['regions'])} regions{gone}, {n_models} model files in {out.parent / 'models'})")
    return 0


def _benchmark_files(texts: list[str]) -> dict[str, list[str]]:
    """--events BENCHMARK=FILE, repeatable; files given for one benchmark are the parts of its sample."""
    files: dict[str, list[str]] = {}
    for text in texts:
        name, sep, path = text.partition("=")
        if not sep or not name or not path:
            hint = " (the number of events per benchmark is -n/--n-events)" if text.isdigit() else ""
            raise ConfigError(f"validate --events expects BENCHMARK=FILE, got {text!r}{hint}")
        files.setdefault(name, []).append(path)
    return files


def _cmd_validate(args: argparse.Namespace) -> int:
    names = _analysis_names(args.analysis)
    samples = _benchmark_files(args.events or [])
    if args.variations and args.no_variations:
        raise ConfigError("validate: give --variations or --no-variations, not both")
    if len(names) > 1 and (samples or args.benchmark):
        raise ConfigError("--benchmark and --events name benchmarks of one analysis: give one ANALYSIS with them")
    for name in names:  # several analyses: reports in OUTPUT/<ID> (default validation/<ID>)
        _validate_one(args, name, samples, len(names) > 1)
    return 0


def _validate_one(args: argparse.Namespace, name: str, samples: dict[str, list[str]], several: bool) -> None:
    from .validate import validate

    folder = Path(name).parent if name.endswith((".yaml", ".yml")) else Path(name)
    output = args.output / folder.name if several and args.output is not None else args.output
    report = validate(
        name,
        events=args.n_events,
        seed=args.seed,
        threads=args.threads,
        benchmarks=args.benchmark or None,
        output=output,
        progress=not args.no_progress,
        pythia=args.pythia or None,
        variations=False if args.no_variations else args.variations or True,
        samples=samples,
    )
    s = report.summary()
    out = output or Path("validation") / report.analysis
    print(f"== {report.analysis}: {report.events_text()}, {s['seconds']} s; report in {out}/report.html")
    given = [b for b, v in report.benchmarks.items() if "sample" in v]
    if given and not (args.no_variations or report.variations):
        print("   no generator variations were run: the events are given as a file (nominal only, no coverage)")
    elif given and not args.no_variations:
        print(f"   no generator variations for {', '.join(given)}: events given as a file (nominal only)")
    for kind in ("cutflow", "yield"):
        k = s[kind]
        if k["compared"]:
            print(
                f"   {kind}: {k['passed']}/{k['compared']} within tolerance ({k['mc_limited']} outside but "
                f"MC-limited), max |ratio - 1| = {k['max_abs_deviation']:.3f}"
            )
            for vname, n_passed in k["passed_per_variation"].items():
                n_compared = k["compared_per_variation"][vname]
                if n_compared:  # not for members that did not run on these comparisons
                    print(f"   {kind}, variation {vname}: {n_passed}/{n_compared} within tolerance")
            cov = k["coverage"]
            if cov["compared"]:
                print(
                    f"   {kind}: {cov['covered']}/{cov['compared']} covered by nominal ± envelope "
                    f"({', '.join(cov['variations'])})"
                )
    for c in report.comparisons:
        if not c.passed:
            print(
                f"   outside ({c.status}): {c.benchmark} {c.region} '{c.step}': "
                + (
                    f"ratio {c.ratio:.3f} ± {c.ratio_error:.3f}"
                    if c.ours_error_up is None
                    else f"ratio {c.ratio:.3f} +{c.ratio_error_up:.3f} (no MC event: one-sided upper MC error)"
                )
            )


def _cmd_events_summary(args: argparse.Namespace) -> int:
    from .delphes import is_root_file
    from .errors import check_file
    from .io import EventFile

    check_file(Path(args.file), str(args.file))  # the wording of recast-ml run --events
    if is_root_file(args.file):  # by content, as recast-ml run --events does
        return _delphes_summary(args)
    n_ev = n_part = n_final = 0
    sum_w = 0.0
    members: dict[str, float] = {}  # the further (named) weights: sum per name, in file order
    with EventFile(args.file, args.format) as f:
        for batch in f.batches(1000):
            n_ev += len(batch)
            n_part += batch.n_particles
            n_final += int(np.count_nonzero(batch.status == 1))
            sum_w += float(batch.weight.sum())
            for name, w in batch.variation_weights.items():
                members[name] = members.get(name, 0.0) + float(w.sum())
        print(f"file:            {args.file} ({f.format})")
        print(f"events:          {n_ev}")
        print(f"particles/event: {n_part / max(n_ev, 1):.1f} ({n_final / max(n_ev, 1):.1f} final state)")
        print(f"sum of weights:  {sum_w:.6g}")
        if members:  # e.g. the shower variations `run --write-events --variations` writes
            listed = ", ".join(f"{k} ({v:.6g})" for k, v in members.items())
            print(f"further weights: {len(members)}, sum of each: {listed}")
        print(_cross_section_line(f.cross_section_pb, "GenCrossSection = {:.6g} pb", ""))
    return 0


def _cross_section_line(xs: float, what: str, usable_note: str) -> str:
    """``events summary``'s cross-section line: the file's value (``usable_note`` after it), or
    "none in the file" (``what`` formats an unusable value) and that run needs --cross-section."""
    if math.isfinite(xs) and xs > 0:
        return f"cross section:   {xs:.6g} pb{usable_note}"
    found = "" if math.isnan(xs) else f" ({what.format(xs)})"
    return f"cross section:   none in the file{found}; recast-ml run needs --cross-section"


def _delphes_summary(args: argparse.Namespace) -> int:
    """``events summary`` of a Delphes ROOT file: the counts of the event files and the objects."""
    from .delphes import TREE, summarise

    if args.format != "auto":
        raise ConfigError(f"--format {args.format} is for HepMC/LHE files; {args.file} is a Delphes ROOT file")
    s = summarise(args.file)
    per = max(s.events, 1)
    print(f"file:            {args.file} (Delphes ROOT, tree {TREE!r})")
    print(f"events:          {s.events}")
    if s.particles is not None and s.final_state is not None:
        print(f"particles/event: {s.particles / per:.1f} ({s.final_state / per:.1f} final state; Particle branch)")
    if s.objects:
        print("objects/event:   " + ", ".join(f"{n / per:.2f} {name}" for name, n in s.objects.items()))
    print(f"sum of weights:  {s.sum_weights:.6g}")
    generators = " (Event.CrossSection, the generator's; recast-ml run does not use it: give --cross-section)"
    print(_cross_section_line(s.cross_section_pb, "Event.CrossSection = {:.6g}", generators))
    print("read by:         recast-ml run --events FILE [--delphes objects|truth] (Delphes objects or truth particles)")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """The quick check of an installation, no input files: Pythia 8 generates ttbar events in
    memory, the ATLAS detector emulation (FastJet) reconstructs them, and ONNX Runtime, called from
    C++, evaluates an ATLAS DNN on the published reference inputs. Exit status 1 if a score differs
    from the published reference by more than 1e-6."""
    from ._data import analyses_dir
    from .onnx import OnnxModel
    from .pythia import PythiaGenerator

    t0 = time.perf_counter()
    print(f"== Generating {args.n_events} ttbar events at 13 TeV with Pythia 8 (seed {args.seed}), in memory")
    gen = PythiaGenerator("ttbar", seed=args.seed)
    events = gen.generate(args.n_events, progress=not args.no_progress)
    t_gen = time.perf_counter() - t0
    final = events.status == 1
    charged = final & (events.charge3 != 0)
    per_event = np.diff(events.particle_offsets)
    print(f"   {len(events)} events in {t_gen:.1f} s, sigma(Pythia) = {events.cross_section_pb:.4g} pb")
    print(f"   particles/event: {per_event.mean():.1f} (min {per_event.min()}, max {per_event.max()})")
    print(f"   final state/event: {final.sum() / len(events):.1f}, charged: {charged.sum() / len(events):.1f}")
    tops = np.abs(events.pid) == 6
    print(f"   top quarks in the records: {int(tops.sum())}")

    import awkward as ak

    from .detector import Detector

    t1 = time.perf_counter()
    detector = Detector("atlas_run2")
    reco = detector.reconstruct(events, threads=2)
    card = detector.card.to_dict()
    print(f"== ATLAS Run-2 detector emulation ({time.perf_counter() - t1:.1f} s, card hash {detector.card.hash})")
    for kind, obj in (("electrons", "electron"), ("muons", "muon"), ("photons", "photon")):
        wp = card[obj]["default_wp"]
        bit = 1 << detector.working_points(obj).index(wp)
        n = ak.sum((reco[kind].wp_mask & bit) != 0)
        print(f"   {kind:<9} passing {wp:<7}: {n / len(events):.3f} per event")
    jets = reco.jets[reco.jets.pt > 25.0]
    btag_bit = 1 << detector.working_points("btag").index(card["btag"]["default_wp"])
    n_b = ak.sum((jets.wp_mask & btag_bit) != 0)
    n_true_b = ak.sum(jets.label == 5)
    print(
        f"   jets pT > 25 GeV: {ak.mean(ak.num(jets)):.2f} per event; b-labelled {n_true_b / len(events):.2f}, "
        f"b-tagged ({card['btag']['default_wp']}) {n_b / len(events):.2f} per event"
    )

    base = analyses_dir() / DEMO_MODEL
    model = OnnxModel(base.with_suffix(".onnx"))
    norm = json.loads(base.with_name(base.name + "_variables.json").read_text())
    offset = np.asarray(norm["offset"], dtype=np.float64)
    scale = np.asarray(norm["scale"], dtype=np.float64)
    in_name, out_name = model.inputs[0].name, model.outputs[0].name
    print(f"== ONNX Runtime (C++, dlopen) on {base.name}.onnx: {in_name}{model.inputs[0].shape} -> {out_name}")
    refs = {}
    with (analyses_dir() / "ATLAS-HIGP-2024-32" / "models" / "reference_outputs.csv").open() as fh:
        for row in csv.DictReader(line for line in fh if not line.startswith("#")):
            if row["model"] == base.name + ".onnx":
                refs[row["case"]] = float(row["score"])
    raw = {"normalised_zeros": offset, "normalised_ones": offset + scale}
    mismatches = 0
    for case, x in raw.items():
        score = float(model.run({in_name: (((x - offset) / scale)[None, :]).astype(np.float32)})[out_name].ravel()[0])
        ok = abs(score - refs[case]) <= 1e-6
        mismatches += not ok
        print(f"   {case:<17} score {score:.7f}   published reference {refs[case]:.7f}   {'OK' if ok else 'MISMATCH'}")
    rng = np.random.default_rng(args.seed)
    batch = rng.standard_normal((4096, len(offset))).astype(np.float32)
    t1 = time.perf_counter()
    scores = model.run({in_name: batch})[out_name].ravel()
    dt = time.perf_counter() - t1
    print(f"   batch of {len(batch)}: mean score {scores.mean():.4f}, {len(batch) / dt:,.0f} evaluations/s")
    verdict = "all checks passed" if not mismatches else f"{mismatches} score(s) differ from the published reference"
    print(f"== {verdict}; done in {time.perf_counter() - t0:.1f} s")
    return 1 if mismatches else 0


#: What ``recast-ml examples DIR`` writes: name -> (source in the package, what it is). Nothing is
#: duplicated in the package: the files are the bundled analyses' own, the spectrum is written by
#: recast_ml.slha.
EXAMPLE_FILES: dict[str, tuple[str, str]] = {
    "spectrum.slha": (
        "slha:gluino_direct:1400,1000",
        "SLHA spectrum of the gluino_direct simplified model, 1400/1000 GeV",
    ),
    "bdt_weights.xml.gz": (
        "ATLAS-SUSY-2018-22/models/ZeroLepton2018-SRBDT-GGd1_weight1.xml.gz",
        "a TMVA BDTG weight file (ATLAS-SUSY-2018-22, GGd1 fold 1)",
    ),
    "nonres_even.csv": (
        "ATLAS-HIGP-2024-32/model_checks/nonres_even.csv",
        "raw inputs of an ATLAS-HIGP-2024-32 DNN with the published reference scores",
    ),
}


def _cmd_variations(args: argparse.Namespace) -> int:
    from . import variations

    found = variations.catalogue([str(f) for f in args.files])
    for v in found.values():
        print(f"{v.name} ({v.kind}): {v.description}")
        for m, val in v.members.items():
            print(f"    {m:<12} {'; '.join(val) if isinstance(val, list) else val}")
        print(f"    source: {v.source}" + (f" [{v.file}]" if args.files else ""))
    print(f"\ndefault = {','.join(variations.DEFAULT)}; all = {','.join(variations.ALL)}")
    print(f"definitions: {variations.catalogue_file()}")
    return 0


def _cmd_examples(args: argparse.Namespace) -> int:
    import shutil

    from . import slha
    from ._data import analyses_dir

    args.directory.mkdir(parents=True, exist_ok=True)
    for name, (source, what) in EXAMPLE_FILES.items():
        target = args.directory / name
        if source.startswith("slha:"):
            model, masses = source.removeprefix("slha:").split(":")
            target.write_text(slha.model_spectrum(model, [float(m) for m in masses.split(",")]).to_slha())
        else:
            shutil.copyfile(analyses_dir() / source, target)
        print(f"{target}: {what}")
    return 0


EXAMPLES = """\
examples:
  recast-ml run --analysis ATLAS-SUSY-2018-22,ATLAS-SUSY-2019-04 --generate gluino_direct:1400,1000 -n 3000
  recast-ml run --analysis all --events signal.hepmc3.gz --cross-section 28.4fb -o out
  some-generator | recast-ml run --analysis ATLAS-SUSY-2018-22 --events - --cross-section 28.4fb -o out
  recast-ml scan --model gluino_direct --grid "m_gluino=1000:2600:100 m_lsp=0:1600:100" -n 2000 -o scan
  recast-ml validate ATLAS-SUSY-2018-22 -n 5000
  recast-ml models inspect ATLAS-SUSY-2018-22:GGd1
"""

#: --threads default: one thread per core
DEFAULT_THREADS = os.cpu_count() or 1
THREADS_HELP = "threads for the detector emulation and the analyses (default: one per core, %(default)s here)"
NO_PROGRESS_HELP = "no progress bar (e.g. in batch jobs)"


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[argparse.ArgumentParser, str | None]]:
    """Every sub-command parser below ``parser`` with its help line in the command list (depth first)."""
    out: list[tuple[argparse.ArgumentParser, str | None]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                out += [(sub, helps.get(name)), *subcommands(sub)]
    return out


def build_parser() -> argparse.ArgumentParser:
    from . import slha

    p = argparse.ArgumentParser(
        prog="recast-ml", description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--version", action="version", version=f"recast-ml {__version__} (core {_core.version()})")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of:")

    info = sub.add_parser("info", help="versions of the core and of the libraries it found")
    info.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    info.set_defaults(func=_cmd_info)

    models = sub.add_parser("models", help="ML model tools").add_subparsers(
        dest="models_command", required=True, metavar="COMMAND", help="one of:"
    )
    inspect = models.add_parser(
        "inspect",
        help="inputs, outputs and metadata of a model file (ONNX, TMVA, lwtnn, MVAUtils ROOT ...) or ANALYSIS:MODEL",
    )
    inspect.add_argument("model", help="model file (.gz allowed) or model card ANALYSIS:MODEL")
    inspect.add_argument("--json", action="store_true", help="print the description as JSON")
    inspect.set_defaults(func=_cmd_models_inspect)
    conv = models.add_parser("convert", help="TMVA XML / lwtnn JSON / MVAUtils ROOT / fixed-batch ONNX -> ONNX")
    conv.add_argument("source", type=Path, help="TMVA XML, lwtnn JSON, MVAUtils ROOT, LightGBM/XGBoost or ONNX file")
    conv.add_argument("target", type=Path, help="ONNX file to write")
    conv.set_defaults(func=_cmd_models_convert)
    check = models.add_parser("check", help="run a model card on feature vectors and report the max deviation")
    check.add_argument("card", help="ANALYSIS:MODEL, e.g. ATLAS-SUSY-2018-22:GGd1 (analysis ID or definition path)")
    check.add_argument("--features", type=Path, required=True, help="CSV: one column per card input (raw values)")
    check.add_argument("--expected", type=Path, help="CSV: one column per card output")
    check.add_argument(
        "--tolerance", type=float, default=1e-5, help="max |deviation| from --expected to pass (default %(default)g)"
    )
    check.add_argument("--normalised", action="store_true", help="features are already normalised")
    check.set_defaults(func=_cmd_models_check)

    evs = sub.add_parser("events", help="event-file tools").add_subparsers(
        dest="events_command", required=True, metavar="COMMAND", help="one of:"
    )
    summ = evs.add_parser(
        "summary", help="count events and particles of a HepMC/LHE file (and the objects of a Delphes ROOT file)"
    )
    summ.add_argument(
        "file", type=Path, help="HepMC2/3 or LHE event file (plain or .gz), or a Delphes ROOT file (by content)"
    )
    summ.add_argument(
        "--format",
        default="auto",
        choices=("auto", "hepmc3", "hepmc2", "lhe"),
        help="file format of a HepMC/LHE file (default: detected from the content; a Delphes ROOT file is always "
        "recognised by its content)",
    )
    summ.set_defaults(func=_cmd_events_summary)

    ana = sub.add_parser("analyses", help="the bundled analyses").add_subparsers(
        dest="analyses_command", required=True, metavar="COMMAND", help="one of:"
    )
    ana.add_parser("list", help="one line per bundled analysis").set_defaults(func=_cmd_analyses_list)
    show = ana.add_parser("show", help="metadata, models and regions of an analysis")
    show.add_argument("analysis", help="analysis ID or definition path; a comma list or 'all' shows several")
    show.set_defaults(func=_cmd_analyses_show)

    dfn = sub.add_parser("definition", help="analysis definition tools").add_subparsers(
        dest="definition_command", required=True, metavar="COMMAND", help="one of:"
    )
    res = dfn.add_parser(
        "resolve",
        help="write the resolved definition the C++ core loads: DIR/definition.json + DIR/models/*.onnx",
    )
    res.add_argument(
        "analysis", help="analysis ID or definition path; a comma list or 'all' writes one folder DIR/<ID> each"
    )
    res.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="folder to write")
    res.add_argument(
        "--detector", default=None, help="card to check the expressions against (default: the definition's)"
    )
    res.set_defaults(func=_cmd_definition_resolve)

    run = sub.add_parser("run", help="the main job: yields, CLs, r-values per signal region, results JSON + report")
    run.add_argument(
        "--analysis",
        action="append",
        help="analysis ID or definition path; repeatable, or a comma list; 'all' = every bundled analysis "
        "(one detector pass per card for all of them)",
    )
    src = run.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--events",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="HepMC2/3 or LHE file(s) of one sample (plain or .gz), or Delphes ROOT files (see --delphes); "
        "'-' reads standard input "
        "(e.g. some-generator | recast-ml run --events - --cross-section ...)",
    )
    src.add_argument(
        "--generate",
        metavar="MODEL:MASSES",
        help="simplified model and its masses (GeV), e.g. gluino_direct:1400,1000; models: "
        + ", ".join(slha.model_usage(m) for m in slha.MODELS)
        + "; without a cross-section table (give --cross-section): "
        + ", ".join(f"{m}:{','.join(slha.SETTINGS_MODEL_PARAMETERS[m])}" for m in slha.SETTINGS_MODELS)
        + " ([...] optional)",
    )
    src.add_argument("--slha", type=Path, help="SLHA spectrum for Pythia (with --process)")
    run.add_argument("--process", help="with --slha: " + ", ".join(slha.PROCESSES))
    run.add_argument(
        "--delphes",
        choices=("objects", "truth"),
        default=None,
        help="Delphes ROOT files in --events (detected by content): 'objects' (default) = the Delphes Jet, Electron, "
        "Muon, Photon, MissingET branches, no detector emulation (the results list how they differ from the card's "
        "objects); 'truth' = the Particle branch through recast's detector emulation. Only for Delphes ROOT "
        "input: given with HepMC/LHE files, standard input, --generate or --slha it is an error",
    )
    run.add_argument(
        "--write-events",
        metavar="FILE",
        help="also write the events as HepMC3 (FILE.gz: compressed), e.g. to keep a generated sample; with the "
        "weights of --variations isr/fsr, which run --events FILE --variations uses again",
    )
    run.add_argument(
        "-n",
        "--n-events",
        type=int,
        default=None,
        help="events to generate with --generate/--slha (default 3000); not with --events (files are read whole)",
    )
    run.add_argument("--seed", type=int, default=1, help="generator seed (default %(default)s)")
    run.add_argument(
        "--cross-section",
        metavar="SIGMA",
        help="the signal cross section with a unit: 28.4fb, 0.0284pb, 2.84e1fb (units pb, fb, ab, nb, ub, mb; "
        "quote a value with a space: '2.84e1 fb'); a bare number is pb (the results say so). Default for "
        "--generate: the model's NNLO+NNLL table (NLO+NLL for higgsinos), with its theory uncertainty; for --slha: "
        "the file's XSECTION blocks for --process; for --events: the file's GenCrossSection if recast-ml wrote the "
        "file, e.g. with --write-events (also when it comes on standard input, --events -)",
    )
    run.add_argument(
        "--cross-section-error",
        metavar="ERR",
        help="theory uncertainty of --cross-section: 10%%, 0.1 (a bare number is a fraction) or 2.8fb (absolute); "
        "r and CLs are then also given at sigma +- 1 sigma (default: none for a given cross section)",
    )
    run.add_argument("--variations", metavar="NAME[,NAME]", help=VARIATIONS_HELP)
    run.add_argument("--detector", help="detector card name or file (default: the analysis')")
    run.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=THREADS_HELP)
    run.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("recast_out"),
        help="folder for results.json and report.html (default: %(default)s)",
    )
    run.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    run.set_defaults(func=_cmd_run)

    scan = sub.add_parser(
        "scan",
        help="a model scan on Dask: a grid over a simplified model or SLHA files; resumable SQLite store, "
        "contours, report",
    )
    what = scan.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="simplified model: " + ", ".join(slha.model_usage(m) for m in slha.MODELS))
    what.add_argument("--slha", type=Path, nargs="+", metavar="FILE_OR_DIR", help="SLHA files or folders of them")
    scan.add_argument(
        "--grid",
        help="with --model: 'NAME=START:STOP:STEP NAME=...' or NAME=m1,m2,...; names as the model's parameters, "
        'e.g. "m_gluino=1000:2600:100 m_lsp=0:1600:100" (forbidden points skipped; a mass 0 is generated at 1 GeV)',
    )
    scan.add_argument("--process", help="with --slha: the production process: " + ", ".join(slha.PROCESSES))
    scan.add_argument(
        "--analysis", action="append", help="analysis IDs (repeatable or comma list; default: all bundled analyses)"
    )
    scan.add_argument("-n", "--n-events", type=int, default=2000, help="events per point")
    scan.add_argument("--seed", type=int, default=1, help="scan seed (each point's seed derives from it and the point)")
    scan.add_argument("--detector", help="detector card name or file (default: each analysis')")
    scan.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler (default: a local cluster)")
    scan.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    scan.add_argument("--threads-per-worker", type=int, default=1, help="threads of each worker (default %(default)s)")
    scan.add_argument("--memory-limit", default="auto", help="per local worker, e.g. 4GB (default: RAM / workers)")
    scan.add_argument("--retries", type=int, default=2, help="re-runs of a point whose task raised on a worker")
    scan.add_argument(
        "--refine",
        type=float,
        metavar="GEV",
        help="adaptive refinement after the grid: add points where the observed CLs crosses 0.05 between "
        "neighbours until the contour moves less than GEV",
    )
    scan.add_argument("--refine-rounds", type=int, default=4, help="at most this many refinement rounds")
    scan.add_argument(
        "--variations",
        metavar="NAME[,NAME]",
        help=VARIATIONS_HELP + "; in a scan: per point in the store (point_variations), contours with the signal "
        "uncertainty and under all variations",
    )
    scan.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("recast_scan"),
        help="folder for scan.sqlite, contours and report (default: %(default)s)",
    )
    scan.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    scan.set_defaults(func=_cmd_scan)

    val = sub.add_parser("validate", help="generate the validation benchmarks, compare with published numbers, report")
    val.add_argument(
        "analysis",
        help="analysis ID (bundled) or definition folder; a comma list or 'all' validates several (reports in "
        "validation/<ID> or OUTPUT/<ID>)",
    )
    val.add_argument(
        "-n",
        "--n-events",
        type=int,
        default=5000,
        metavar="N",
        help="events generated per benchmark (default %(default)s)",
    )
    val.add_argument("--seed", type=int, default=1, help="generator seed of every benchmark (default %(default)s)")
    val.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=THREADS_HELP)
    val.add_argument("--benchmark", action="append", help="only this benchmark (repeatable)")
    val.add_argument("-o", "--output", type=Path, help="report folder (default validation/<ID>)")
    val.add_argument(
        "--pythia",
        action="append",
        metavar="SETTING",
        help="extra Pythia setting for every benchmark, e.g. 'SpaceShower:pTdampFudge = 0.5' (repeatable)",
    )
    val.add_argument(
        "--events",
        action="append",
        metavar="BENCHMARK=FILE",
        help="use this event file (HepMC/LHE) for the benchmark instead of generating it (repeatable; "
        "files given for one benchmark are the parts of its sample)",
    )
    val.add_argument(
        "--variations",
        metavar="NAME[,NAME]",
        help="generator variations instead of those of validation.yaml (`recast-ml variations` lists them; weight "
        "members ride on the nominal sample, sample members are generated; xsec is not used in a validation)",
    )
    val.add_argument("--no-variations", action="store_true", help="skip the generator variations of validation.yaml")
    val.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    val.set_defaults(func=_cmd_validate)

    demo = sub.add_parser(
        "demo",
        help="quick check of an installation (no input files, seconds): Pythia 8 ttbar events, the ATLAS detector "
        "emulation, an ATLAS DNN in ONNX Runtime against its published scores; exit status 1 on a mismatch",
    )
    demo.add_argument(
        "-n", "--n-events", type=int, default=500, metavar="N", help="ttbar events to generate (default %(default)s)"
    )
    demo.add_argument("--seed", type=int, default=12345, help="generator seed (default %(default)s)")
    demo.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    demo.set_defaults(func=_cmd_demo)

    exa = sub.add_parser(
        "examples",
        help="write small example inputs (an SLHA spectrum, a TMVA BDT, a DNN's reference inputs) to try the "
        "commands of the README on",
    )
    exa.add_argument("directory", type=Path, nargs="?", default=Path("."), help="folder to write to (default: here)")
    exa.set_defaults(func=_cmd_examples)

    var = sub.add_parser(
        "variations", help="list the generator variations `run/scan/validate --variations` can use, with their sources"
    )
    var.add_argument("files", nargs="*", type=Path, help="your own variations files (YAML) to list with them")
    var.set_defaults(func=_cmd_variations)

    for parser, text in subcommands(p):  # `recast-ml COMMAND --help` starts with what the command list says
        if parser.description is None:
            parser.description = text
    return p


#: options that count something, with the least value each takes (checked after parsing, so that
#: a bad count is the usual one-line error instead of e.g. "run_batches: no events" much later)
COUNT_OPTIONS: dict[str, tuple[str, int]] = {
    "n_events": ("-n/--n-events", 1),
    "threads": ("--threads", 1),
    "threads_per_worker": ("--threads-per-worker", 1),
    "workers": ("--workers", 1),
    "retries": ("--retries", 0),
    "refine_rounds": ("--refine-rounds", 0),
}


def _check_counts(args: argparse.Namespace) -> None:
    from .errors import check_count

    for dest, (option, least) in COUNT_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is not None:
            check_count(option, value, least)


#: options whose value may start with '-' and a digit (a negative number with a unit, e.g. -1pb):
#: argparse would take it for an option ("expected one argument"); main() joins them as OPTION=VALUE
#: so that the value's own parser says what is wrong with it
SIGNED_VALUE_OPTIONS = ("--cross-section", "--cross-section-error")


def _join_signed_values(argv: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in SIGNED_VALUE_OPTIONS and i + 1 < len(argv) and re.match(r"-[0-9.]", argv[i + 1]):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        if argv[i] == "--":
            out += argv[i:]
            break
        out.append(argv[i])
        i += 1
    return out


#: Errors with a message for the user (bad input, configuration, model, missing dependency, files):
#: one line on stderr, exit status 2. Anything else is an internal error (exit status 3).
# every typed recast error (InputError, ConfigError, ModelError, DependencyError, PythiaError
# derive from RecastError) and file-system errors: one line, no traceback
USER_ERRORS: tuple[type[BaseException], ...] = (_core.RecastError, OSError)


def _one_line(err: BaseException) -> str:
    """The message on one line; a caret line (pointing under the expression text above it) is
    left out: on one line it would point nowhere (file:line:column says where)."""
    lines = [line.strip() for line in str(err).splitlines()]
    text = " ".join(line for line in lines if line and set(line) != {"^"})
    return text or type(err).__name__


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone; then it is pointed at /dev/null,
    so that the interpreter's last flush does not fail again."""
    import select

    try:
        fd = sys.stdout.fileno()
        poll = select.poll()
        poll.register(fd, select.POLLOUT)
        # a pipe without reader: POLLERR on Linux, POLLHUP on the BSDs and macOS
        closed = any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poll.poll(0))
    except (OSError, ValueError, AttributeError):  # not a real file (captured), or no poll()
        return False
    if closed:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
    return closed


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(_join_signed_values(list(sys.argv[1:] if argv is None else argv)))
    # the command line recorded in results.json: as typed (sys.argv), or "recast-ml ARGS" when called with argv
    args.command_line = list(sys.argv) if argv is None else ["recast-ml", *argv]
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        _check_counts(args)
        return int(args.func(args))
    except BrokenPipeError as err:
        if _stdout_closed():  # the reader went away (`recast-ml analyses list | head`): quietly
            return 141  # as a process ended by SIGPIPE
        if args.verbose:
            traceback.print_exc()
        print(f"recast-ml: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except USER_ERRORS as err:
        if args.verbose:
            traceback.print_exc()
        print(f"recast-ml: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # a scan says how far it got (ScanInterrupted)
        print(f"recast-ml: interrupted {err}".rstrip(), file=sys.stderr)
        return 130
    except Exception as err:
        if args.verbose:
            traceback.print_exc()
        print(
            f"recast-ml: internal error: {type(err).__name__}: {_one_line(err)} (run with -v for the traceback)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
