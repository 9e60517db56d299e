"""ML cost inside the analysis loop vs raw batched ONNX Runtime on the same model.

The ATLAS-SUSY-2018-22 BDT GGd1 (800 trees, converted from TMVA XML) and the 8-jet ATLAS-SUSY-2019-04
network (lwtnn graph converted to ONNX), side by side in one run on N synthetic events:
  * raw batched ORT: the model alone on the (N, k) float32 matrix of the same features (C++ core,
    one call)
  * in the loop: an analysis with the model card (features gathered from expressions, routing,
    blocks of 1024 events, one ORT call per block and file) minus the same analysis without it
  * in the loop, per event: the same with block_size 1 (one ORT call per event)

    .venv/bin/python benchmarks/bench_models.py [--events 20000] [--repeat 3] [--output results/models.md]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import awkward as ak
import numpy as np

from _timing import best, markdown_table, publish
from recast_ml import OnnxModel
from recast_ml.analysis import Analysis, evaluate, table_from_arrays
from recast_ml.convert import convert
from recast_ml.onnx_tools import input_names

SHARED = Path(os.environ.get("RECAST_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared")) / "data"


def table(n: int) -> dict[str, object]:
    rng = np.random.default_rng(1)
    counts = rng.integers(8, 11, n)
    jets = ak.unflatten(
        ak.zip(
            {
                "pt": rng.exponential(150, counts.sum()) + 50,
                "eta": rng.uniform(-2.5, 2.5, counts.sum()),
                "phi": rng.uniform(-np.pi, np.pi, counts.sum()),
                "mass": rng.uniform(0, 20, counts.sum()),
            }
        ),
        counts,
    )
    jets = jets[ak.argsort(jets.pt, ascending=False)]
    met = ak.zip({"pt": rng.exponential(300, n) + 250, "phi": rng.uniform(-np.pi, np.pi, n)})
    return table_from_arrays({"jets": jets}, {"met": met}, event_number=np.arange(n))


def definition(
    model: Path, sha: str, inputs: list[str], names: list[str], tensor: str, output: str, block: int | None
) -> str:
    head = """format: recast_ml/analysis
format_version: 1
info: {id: BENCH, experiment: toy, sqrt_s: 13, luminosity: 1}
variables:
  meff: meff(jets)
  ap: aplanarity(jets)
"""
    if block is None:
        return head + "regions:\n  - name: all\n    cuts: []\n"
    lines = [f"      - {{name: '{n}', expr: '{e}', pad: 0}}" for n, e in zip(names, inputs, strict=True)]
    return (
        head
        + f"""models:
  m:
    files:
      - {{file: {model}, sha256: {sha}, route: 0}}
    route: "0"
    block_size: {block}
    tensors:
      {tensor}:
"""
        + "\n".join(lines)
        + f"""
    outputs:
      y: {{tensor: {output}}}
regions:
  - name: all
    cuts:
      - "score": m.y > -10
"""
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()
    tab = table(args.events)
    bdt_inputs = (
        ["met.pt", "meff(jets)", "aplanarity(jets)"]
        + [f"jets[{i}].pt" for i in range(4)]
        + [f"jets[{i}].eta" for i in range(4)]
    )
    nn_inputs = [
        "count(jets)",
        "3",
        "3",
        "meff(jets) / 100",
        "HT(jets) / 100",
        "0",
        "meff(jets) / 100",
        "0.5",
        "meff(jets) / 200",
        "met.pt / 100",
        "met.phi",
    ]
    nn_inputs += [f"jets[{i}].pt / 100" for i in range(10)] + [f"jets[{i}].eta" for i in range(10)]
    nn_inputs += [f"jets[{i}].phi" for i in range(10)] + [
        f"jets[{i}].pt * cosh(jets[{i}].eta) / 100" for i in range(10)
    ]
    nn_inputs += ["5"] * 10 + ["1", "0", "0", "1"]
    bdt_file = SHARED / "ATLAS-SUSY-2018-22" / "tmva_xml" / "ZeroLepton2018-SRBDT-GGd1_weight1.xml"
    nn_file = SHARED / "ATLAS-SUSY-2019-04" / "lwtnn" / "ATLAS_13TeV_1LEPJets_139invfb_8j.json"
    cases = [
        ("BDT GGd1 (TMVA, 800 trees)", bdt_file, bdt_inputs, "input", "score"),
        ("NN 8 jets (lwtnn graph)", nn_file, nn_inputs, "node_0", "activation_0"),
    ]
    n = args.events
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, src, inputs, tensor, output in cases:
            local = Path(tmp) / src.name
            shutil.copy(src, local)
            sha = hashlib.sha256(local.read_bytes()).hexdigest()
            onnx_path = Path(tmp) / (src.stem + ".onnx")
            proto = convert(local)
            onnx_path.write_bytes(proto.SerializeToString())
            recorded = input_names(proto).get(tensor)
            names = list(recorded) if recorded else [f"x{i}" for i in range(len(inputs))]
            model = OnnxModel(onnx_path)
            # the same feature vectors the loop gathers (missing inputs padded with 0, as in the cards)
            x = np.stack([np.nan_to_num(evaluate(e, tab), nan=0.0) for e in inputs], axis=1).astype(np.float32)
            calls: dict[object, Callable[[], object]] = {"raw": lambda m=model, xx=x, t=tensor: m.run({t: xx})}
            for block in (None, 1024, 1):
                path = Path(tmp) / f"a{block}.yaml"
                path.write_text(definition(local, sha, inputs, names, tensor, output, block))
                ana = Analysis.for_arrays(path, tab)
                calls[block] = lambda a=ana: a.run_table(tab)
            # interleaved: each round times every configuration once (a load change hits all alike)
            timings: dict[object, float] = dict.fromkeys(calls, float("inf"))
            for _ in range(args.repeat):
                for key, fn in calls.items():
                    timings[key] = min(timings[key], best(fn, 1))
            raw = timings["raw"]
            loop = timings[1024] - timings[None]
            per_event = timings[1] - timings[None]
            us = 1e6 / n
            rows.append(
                [
                    label,
                    f"{raw * us:.2f}",
                    f"{loop * us:.2f}",
                    f"{loop / raw:.2f}",
                    f"{per_event * us:.2f}",
                    f"{per_event / raw:.1f}",
                ]
            )
    header = [
        "model",
        "raw batched ORT, µs/event",
        "in the loop (blocks of 1024), µs/event",
        "ratio",
        "in the loop, per event (block 1), µs/event",
        "ratio",
    ]
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    publish(
        markdown_table(header, rows, align="lrrrrr"),
        args.output,
        "ML inference inside the event loop",
        f"`python benchmarks/bench_models.py --events {n} --repeat {args.repeat}`, 1 thread, 2-core machine "
        f"(load average {load} at the end of the run); configurations interleaved, best of each. "
        "'In the loop' = (analysis with the model card) − (the same analysis without it): feature gathering "
        "from expressions, padding, routing and the ORT calls. Ratios are relative to raw batched ORT.",
        summary=f"{n} events, best of {args.repeat}, 1 thread",
    )


if __name__ == "__main__":
    main()
