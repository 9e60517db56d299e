"""Model cards in analysis definitions: features gathered by the core equal a Python gathering fed
to onnxruntime directly; k-fold and multiplicity routing, normalisation, padding, parameters;
batched inference (one ONNX Runtime call per block and file) equals per-event inference;
card errors."""

from __future__ import annotations

import hashlib
import json
import math
import shutil

import numpy as np
import onnxruntime as ort
import pytest

from recast_ml import ConfigError, ModelError
from recast_ml.analysis import Analysis, find_definition, load_definition, table_from_arrays
from recast_ml.convert.lwtnn import lwtnn_to_onnx
from recast_ml.convert.tmva import tmva_to_onnx
from toy_events import random_jets, random_met


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(21)
    n = 700
    jets = random_jets(rng, n, n_min=2, n_max=8, pt_mean=150, pt_min=50, abs_eta_max=2.8, mass_max=20, pt_ordered=True)
    met = random_met(rng, n, pt_mean=300, pt_min=250)
    return table_from_arrays({"jets": jets}, {"met": met}, event_number=rng.integers(0, 10**6, n))


@pytest.fixture(scope="module")
def models(shared_data, tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    xml = shared_data / "ATLAS-SUSY-2018-22" / "tmva_xml"
    for k in (1, 2):
        shutil.copy(xml / f"ZeroLepton2018-SRBDT-GGd4_weight{k}.xml", d / f"GGd4_{k}.xml")
    lw = shared_data / "ATLAS-SUSY-2019-04" / "lwtnn"
    for n in (4, 5):
        shutil.copy(lw / f"ATLAS_13TeV_1LEPJets_139invfb_{n}j.json", d / f"nn{n}.json")
    return d


def definition(models, block_size=1024, gd_sha=None):
    gd = [sha(models / f"GGd4_{k}.xml") for k in (1, 2)]
    if gd_sha:
        gd[0] = gd_sha
    nn = {n: sha(models / f"nn{n}.json") for n in (4, 5)}
    jet_inputs = (
        "\n".join(f"      - {{name: jetPt{i}, expr: 'jets[{i}].pt', unit: GeV}}" for i in range(4))
        + "\n"
        + "\n".join(f"      - {{name: jetEta{i}, expr: 'jets[{i}].eta'}}" for i in range(4))
    )
    # the card's input names are the network's (checked at load); the expressions are a toy's
    names = [v["name"] for v in json.loads((models / "nn4.json").read_text())["inputs"][0]["variables"]]
    nn_inputs = "\n".join(
        [
            f"      - {{name: {names[0]}, expr: count(jets)}}",
            f"      - {{name: {names[1]}, expr: HT(jets), mean: 500, std: 250}}",
            f"      - {{name: {names[2]}, expr: parameters.mass, offset: -1000, scale: 0.001}}",
        ]
        + [f"      - {{name: {names[3 + i]}, expr: 'jets[{i}].pt / 100', pad: 1e-7}}" for i in range(62)]
    )
    text = f"""format: recast_ml/analysis
format_version: 1
info: {{id: MODELS-1, experiment: toy, sqrt_s: 13, luminosity: 139}}
parameters:
  mass: 1400
variables:
  meff: meff(jets)
  n_jets: count(jets)
models:
  bdt:
    description: gluino-direct BDT, 2-fold by event-number parity
    files:
      - {{file: {models}/GGd4_1.xml, sha256: {gd[0]}, route: 0}}
      - {{file: {models}/GGd4_2.xml, sha256: {gd[1]}, route: 1}}
    block_size: {block_size}
    inputs:
      - {{name: met, expr: met.pt, unit: GeV}}
      - {{name: meff, expr: meff, unit: GeV}}
{jet_inputs}
    outputs:
      score: {{tensor: score, meaning: "BDT score, signal near +1"}}
  nn:
    files:
      - {{file: {models}/nn4.json, sha256: {nn[4]}, route: 4}}
      - {{file: {models}/nn5.json, sha256: {nn[5]}, route: 5}}
    route: n_jets
    block_size: {block_size}
    tensors:
      node_0:
{nn_inputs}
    outputs:
      p: {{tensor: activation_0}}
regions:
  - name: SR
    cuts:
      - "bdt > 0.5": bdt.score > 0.5
"""
    return text


@pytest.fixture(scope="module")
def analysis_file(models, tmp_path_factory):
    p = tmp_path_factory.mktemp("ana") / "models.yaml"
    p.write_text(definition(models))
    return p


def python_features(table, n_events):
    """The BDT inputs gathered in Python from the same columns."""
    jets = table["collections"]["jets"]
    off = jets["offsets"]
    f = jets["fields"]
    met = table["records"]["met"]["fields"]["pt"]
    rows = []
    for e in range(n_events):
        b, k = off[e], off[e + 1] - off[e]
        pts, etas = f["pt"][b : b + k], f["eta"][b : b + k]
        meff = pts.sum() + met[e]
        rows.append(
            [
                met[e],
                meff,
                *(pts[i] if i < k else math.nan for i in range(4)),
                *(etas[i] if i < k else math.nan for i in range(4)),
            ]
        )
    return np.array(rows)


def test_model_outputs_equal_direct_inference(models, analysis_file, table):
    ana = Analysis.for_arrays(analysis_file, table)
    res = ana.run_table(table)
    n = table["n_events"]
    x = python_features(table, n)
    parity = table["event_number"] % 2
    expected = np.full(n, np.nan)
    for fold in (0, 1):
        sess = ort.InferenceSession(tmva_to_onnx(models / f"GGd4_{fold + 1}.xml").SerializeToString())
        rows = (parity == fold) & ~np.isnan(x).any(axis=1)
        expected[rows] = sess.run(None, {"input": x[rows].astype(np.float32)})[0][:, 0]
    # events with fewer than 4 jets have missing jet inputs (no pad): no score, the cut fails
    passed = res.region_mask("SR")
    np.testing.assert_array_equal(passed, np.nan_to_num(expected, nan=-2) > 0.5)
    assert 0 < passed.sum() < n
    assert res.variables.shape == (n, 2)


def test_model_outputs_through_a_variable_and_routing(models, analysis_file, table, tmp_path):
    text = analysis_file.read_text().replace(
        "regions:",
        "regions:\n  - name: all\n    cuts: []\n",
        1,
    )
    text = text.replace(
        "  n_jets: count(jets)\n", "  n_jets: count(jets)\n  score: bdt.score\n  p: nn.p\n  twice: 2 * bdt.score\n"
    )
    path = tmp_path / "with_vars.yaml"
    path.write_text(text)
    res = Analysis.for_arrays(path, table).run_table(table, parameters={"mass": 1800})
    score, twice, p = res.variable("score"), res.variable("twice"), res.variable("p")
    np.testing.assert_array_equal(twice[~np.isnan(score)], 2 * score[~np.isnan(score)])
    # the NN runs only for 4 or 5 jets (route = n_jets), with card normalisation and padding
    n_jets = res.variable("n_jets")
    assert np.all(np.isnan(p[(n_jets != 4) & (n_jets != 5)]))
    jets = table["collections"]["jets"]
    off, pt = jets["offsets"], jets["fields"]["pt"]
    for nj in (4, 5):
        sess = ort.InferenceSession(lwtnn_to_onnx(models / f"nn{nj}.json").SerializeToString())
        rows = np.nonzero(n_jets == nj)[0]
        assert len(rows) > 20
        x = []
        for e in rows:
            pts = pt[off[e] : off[e + 1]]
            x.append(
                [
                    nj,
                    (pts.sum() - 500) / 250,
                    (1800 - 1000) * 0.001,
                    *(pts[i] / 100 if i < len(pts) else 1e-7 for i in range(62)),
                ]
            )
        direct = sess.run(None, {"node_0": np.array(x, dtype=np.float32)})[0][:, 0]
        np.testing.assert_allclose(p[rows], direct, rtol=0, atol=1e-7)


def test_batched_equals_per_event(models, table, tmp_path):
    results = []
    for block in (1, 7, 1024):
        path = tmp_path / f"b{block}.yaml"
        path.write_text(
            definition(models, block_size=block).replace(
                "  n_jets: count(jets)\n", "  n_jets: count(jets)\n  s: bdt.score\n  p: nn.p\n"
            )
        )
        res = Analysis.for_arrays(path, table).run_table(table, threads=2 if block == 7 else 1)
        results.append(res.variables)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


def test_model_card_errors(models, table, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(definition(models, gd_sha="a" * 64))
    with pytest.raises(ConfigError, match=r"has SHA-256 .* the model card says aaaa"):
        Analysis.for_arrays(path, table)
    text = definition(models).replace("      - {name: jetEta3, expr: 'jets[3].eta'}\n", "")
    path.write_text(text)
    with pytest.raises(ModelError, match=r"the card gives 9 inputs, the model takes 10 \(missing \[jetEta3\]\)"):
        Analysis.for_arrays(path, table)
    text = definition(models).replace("score: {tensor: score,", "score: {tensor: nope,")
    path.write_text(text)
    with pytest.raises(ConfigError, match="no output tensor 'nope'"):
        Analysis.for_arrays(path, table)
    text = (
        definition(models)
        .replace("expr: met.pt, unit: GeV}", "expr: late, unit: GeV}")
        .replace("  n_jets: count(jets)\n", "  n_jets: count(jets)\n  late: 2 * bdt.score\n")
    )
    path.write_text(text)
    with pytest.raises(ConfigError, match="uses 'late', which needs model outputs"):
        Analysis.for_arrays(path, table)


def card_line(text, key):
    return text.splitlines().index(key) + 1


def test_a_missing_model_file_names_the_card_line(models, table, tmp_path):
    text = definition(models).replace(f"{models}/GGd4_2.xml", f"{models}/nothere.xml")
    path = tmp_path / "missing.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        Analysis.for_arrays(path, table)
    line = next(k for k, t in enumerate(text.splitlines(), 1) if "nothere.xml" in t)
    assert (err.value.file, err.value.line) == (str(path), line)
    assert f"cannot read model file {models}/nothere.xml" in err.value.message


def test_swapped_card_inputs_are_refused(models, table, tmp_path):
    """Two inputs of a card swapped: the model would score the wrong numbers; the load names the
    card (file:line), the model file and both lists."""
    text = definition(models).replace(
        "      - {name: met, expr: met.pt, unit: GeV}\n      - {name: meff, expr: meff, unit: GeV}\n",
        "      - {name: meff, expr: meff, unit: GeV}\n      - {name: met, expr: met.pt, unit: GeV}\n",
    )
    path = tmp_path / "swapped.yaml"
    path.write_text(text)
    with pytest.raises(ModelError) as err:
        Analysis.for_arrays(path, table)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{card_line(text, '  bdt:')}: model 'bdt': the card's inputs do not match ")
    assert f"{models / 'GGd4_1.xml'}: input 0 is 'meff' in the card, 'met' in the model" in msg
    assert "card: [meff, met, jetPt0, jetPt1, jetPt2, jetPt3, jetEta0, jetEta1, jetEta2, jetEta3]" in msg
    assert "model: [met, meff, jetPt0, jetPt1, jetPt2, jetPt3, jetEta0, jetEta1, jetEta2, jetEta3]" in msg
    # a renamed input too (same count, a name the model does not have)
    path.write_text(definition(models).replace("{name: jetEta3,", "{name: jetEta4,"))
    with pytest.raises(ModelError, match=r"input 9 is 'jetEta4' in the card, 'jetEta3' in the model"):
        Analysis.for_arrays(path, table)
    # the names of the lwtnn network (graph input node_0), the second file of the card checked too
    text = definition(models).replace("      - {name: n_jet,", "      - {name: n_jets,")
    path.write_text(text)
    with pytest.raises(ModelError, match=rf"{path}:{card_line(text, '  nn:')}: model 'nn': .*nn4.json: input 0 "):
        Analysis.for_arrays(path, table)


@pytest.fixture
def bundled_copy(tmp_path):
    """A copy of a bundled analysis to edit."""

    def copy(name):
        src = find_definition(name).parent
        dst = tmp_path / name
        shutil.copytree(src, dst)
        return dst / "analysis.yaml"

    return copy


def model_block(lines, model):
    """Line indices (0-based) of the input entries of a model card in an analysis.yaml."""
    start = lines.index(f"  {model}:")
    out = []
    for k in range(start + 1, len(lines)):
        if lines[k].startswith("  ") and not lines[k].startswith("   "):
            break
        if lines[k].lstrip().startswith("- {name:"):
            out.append(k)
    return start, out


def test_bundled_cards_match_their_model_files(shared_data):
    """Every bundled card loads (names, order and count checked against the files); the ATLAS
    SUSY-2019-04 ONNX files record no names, but the card's are those of the lwtnn graphs
    the networks equal."""
    for name in ("ATLAS-SUSY-2018-22", "ATLAS-SUSY-2019-04"):
        spec = load_definition(find_definition(name)).spec()
        assert spec["models"]
    card = load_definition(find_definition("ATLAS-SUSY-2019-04")).doc["models"]["NN"]
    names = [str(i["name"]) for i in card["tensors"]["input.1"]]
    for n in range(4, 9):
        doc = json.loads(
            (shared_data / "ATLAS-SUSY-2019-04" / "lwtnn" / f"ATLAS_13TeV_1LEPJets_139invfb_{n}j.json").read_text()
        )
        assert [v["name"] for v in doc["inputs"][0]["variables"]] == names


def test_swapped_inputs_of_a_bundled_tmva_card(bundled_copy):
    """ATLAS-SUSY-2018-22 GGd2 with meff and Ap swapped loaded silently (scores moved by up to 2)."""
    path = bundled_copy("ATLAS-SUSY-2018-22")
    lines = path.read_text().splitlines()
    start, inputs = model_block(lines, "GGd2")
    a, b = inputs[0], inputs[1]
    lines[a], lines[b] = lines[b], lines[a]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelError) as err:
        load_definition(path).spec()
    msg = str(err.value)
    assert msg.startswith(f"{path}:{start + 1}: model 'GGd2': the card's inputs do not match ")
    assert "ZeroLepton2018-SRBDT-GGd2_weight1.xml.gz: input 0 is 'Ap' in the card, 'meff' in the model" in msg
    assert "card: [Ap, meff, jetPt0," in msg
    assert "model: [meff, Ap, jetPt0," in msg


def test_onnx_without_names_checks_the_count(bundled_copy):
    path = bundled_copy("ATLAS-SUSY-2019-04")
    lines = path.read_text().splitlines()
    start, inputs = model_block(lines, "NN")
    del lines[inputs[-1]]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelError) as err:
        load_definition(path).spec()
    msg = str(err.value)
    assert msg.startswith(f"{path}:{start + 1}: model 'NN': the card's inputs do not match ")
    assert (
        "OneLeptonMultiJets2018_4jets.onnx: the card gives 64 inputs, the model takes 65 (the file records no names)"
        in msg
    )


def test_a_damaged_cache_entry_is_converted_again(tmp_path, monkeypatch, shared_data):
    from recast_ml.analysis import CONVERTER_VERSION, load_model

    monkeypatch.setenv("RECAST_CACHE_DIR", str(tmp_path / "cache"))
    src = shared_data / "ATLAS-SUSY-2018-22" / "tmva_xml" / "ZeroLepton2018-SRBDT-GGd1_weight1.xml"
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    first = load_model(src, digest)
    cached = tmp_path / "cache" / "models" / f"{digest}-{CONVERTER_VERSION}.onnx"
    assert cached.read_bytes() == first
    cached.write_bytes(b"garbage")
    assert load_model(src, digest) == first
    assert cached.read_bytes() == first
    # a damage that still parses as ONNX is caught by the entry's checksum, not by parsing
    check = cached.with_name(cached.name + ".sha256")
    assert check.read_text() == hashlib.sha256(first).hexdigest()
    cached.write_bytes(first[:-1] + bytes([first[-1] ^ 1]))
    assert load_model(src, digest) == first
    # an entry of an older recast (no checksum file) is parsed once and gets its checksum
    check.unlink()
    assert load_model(src, digest) == first
    assert check.read_text() == hashlib.sha256(first).hexdigest()


def test_a_cache_hit_does_not_import_onnx(tmp_path, shared_data):
    """`import onnx` costs seconds of a run: a verified cache hit does without it."""
    import subprocess
    import sys

    src = shared_data / "ATLAS-SUSY-2018-22" / "tmva_xml" / "ZeroLepton2018-SRBDT-GGd1_weight1.xml"
    code = (
        "import hashlib, sys\n"
        "from pathlib import Path\n"
        "from recast_ml.analysis import load_model\n"
        f"src = Path({str(src)!r})\n"
        "load_model(src, hashlib.sha256(src.read_bytes()).hexdigest())\n"
        "print('onnx' in sys.modules)\n"
    )
    env = {**__import__("os").environ, "RECAST_CACHE_DIR": str(tmp_path / "cache")}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert first.stdout.strip() == "True"  # converted: onnx needed
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert again.stdout.strip() == "False"
