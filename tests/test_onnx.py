"""ONNX Runtime inference through the C++ core against published and independent references."""

from __future__ import annotations

import csv
import json
import threading

import numpy as np
import onnxruntime as ort
import pytest

import recast_ml
from recast_ml import ModelError, OnnxModel

HIGP = "ATLAS-HIGP-2024-32"
SUSY1904 = "ATLAS-SUSY-2019-04"


def read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def higp_model(shared_data, name):
    d = shared_data / HIGP / "onnx"
    norm = json.loads((d / name.replace(".onnx", "_variables.json")).read_text())
    return d / name, np.asarray(norm["offset"]), np.asarray(norm["scale"])


def test_higp_models_reproduce_published_reference_outputs(shared_data):
    rows = read_csv(shared_data / HIGP / "onnx_reference_outputs.csv")
    assert len(rows) == 12
    assert len({r["model"] for r in rows}) == 6
    for row in rows:
        path, offset, scale = higp_model(shared_data, row["model"])
        raw = np.array(row["raw_inputs"].split(), dtype=np.float64)
        x = ((raw - offset) / scale).astype(np.float32)[None, :]
        out = OnnxModel(path).run({row["input_name"]: x})
        assert list(out) == [row["output_name"]]
        assert out[row["output_name"]].shape == (1, 1)
        assert out[row["output_name"]][0, 0] == pytest.approx(float(row["score"]), abs=1e-5), row


@pytest.mark.parametrize("njet", [4, 5, 6, 7, 8])
def test_susy_2019_04_nets_equal_onnxruntime_python(shared_data, njet):
    path = shared_data / SUSY1904 / "onnx" / f"OneLeptonMultiJets2018_{njet}jets.onnx"
    model = OnnxModel(path)
    (inp,), (outp,) = model.inputs, model.outputs
    assert inp.shape == (1, 65)
    reference = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(njet)
    x = rng.normal(0.0, 2.0, size=(10_000, 65)).astype(np.float32)
    ours = np.array([model.run({inp.name: x[i : i + 1]})[outp.name][0, 0] for i in range(len(x))])
    theirs = np.array([reference.run([outp.name], {inp.name: x[i : i + 1]})[0][0, 0] for i in range(len(x))])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    assert ours.std() > 0.01  # the inputs exercise the network


def test_susy_2019_04_lwtnn_selfeval_scores(shared_data):
    # Independent numpy evaluation of the lwtnn graphs, which the ATLAS ONNX files must match.
    for row in read_csv(shared_data / SUSY1904 / "lwtnn_reference_scores_selfeval.csv"):
        njet = int(row["njet_network"])
        model = OnnxModel(shared_data / SUSY1904 / "onnx" / f"OneLeptonMultiJets2018_{njet}jets.onnx")
        x = np.array(row["input_vector_space_separated"].split(), dtype=np.float32)[None, :]
        score = model.run({"input.1": x})["39"][0, 0]
        assert score == pytest.approx(float(row["score"]), abs=1e-5)


def test_batch_of_one_equals_batch_of_4096(shared_data):
    path, _, _ = higp_model(shared_data, "ANA-HIGP-2024-32_resDNN_model_odd.onnx")
    model = OnnxModel(path)
    x = np.random.default_rng(1).standard_normal((4096, 10)).astype(np.float32)
    batched = model.run({"input_1": x})["dense_3"]
    assert batched.shape == (4096, 1)
    single = np.concatenate([model.run({"input_1": x[i : i + 1]})["dense_3"] for i in range(len(x))])
    np.testing.assert_array_equal(batched, single)


def test_concurrent_runs_from_two_threads(shared_data):
    path, _, _ = higp_model(shared_data, "ANA-HIGP-2024-32_heavyresDNN_model_even.onnx")
    model = OnnxModel(path)
    rng = np.random.default_rng(2)
    inputs = [rng.standard_normal((257, 10)).astype(np.float32) for _ in range(40)]
    expected = [model.run({"input": x})["dense_4"] for x in inputs]
    results: dict[int, list[np.ndarray]] = {0: [], 1: []}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(k: int) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                for x in inputs:
                    results[k].append(model.run({"input": x})["dense_4"])
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in (0, 1):
        assert len(results[k]) == 5 * len(inputs)
        for i, r in enumerate(results[k]):
            np.testing.assert_array_equal(r, expected[i % len(inputs)])


def test_intra_op_threads_option(shared_data):
    path, _, _ = higp_model(shared_data, "ANA-HIGP-2024-32_nonresDNN_model_odd.onnx")
    x = np.random.default_rng(3).standard_normal((1000, 10)).astype(np.float32)
    one = OnnxModel(path).run({"input_1": x})["dense_3"]
    two_model = OnnxModel(path, intra_op_threads=2)
    assert two_model.intra_op_threads == 2
    np.testing.assert_allclose(two_model.run({"input_1": x})["dense_3"], one, rtol=0, atol=1e-6)
    with pytest.raises(ModelError, match="intra_op_threads"):
        OnnxModel(path, intra_op_threads=0)


def test_model_introspection(shared_data):
    path, _, _ = higp_model(shared_data, "ANA-HIGP-2024-32_nonresDNN_model_even.onnx")
    model = OnnxModel(path)
    (inp,) = model.inputs
    assert inp.name == "input"
    assert inp.dtype == "float32"
    assert inp.shape[1] == 10
    assert not isinstance(inp.shape[0], int)  # dynamic batch axis
    assert [o.name for o in model.outputs] == ["dense_3"]
    # output selection by name and ordering
    x = np.zeros((2, 10), np.float32)
    assert list(model.run({"input": x}, outputs=["dense_3"])) == ["dense_3"]


def test_wrong_inputs_raise_clear_errors(shared_data):
    path, _, _ = higp_model(shared_data, "ANA-HIGP-2024-32_nonresDNN_model_even.onnx")
    model = OnnxModel(path)
    good = np.zeros((3, 10), np.float32)
    with pytest.raises(ModelError, match=r"unknown input 'inputs'.*'input'") as err:
        model.run({"inputs": good})
    assert "nonresDNN_model_even.onnx" in str(err.value)
    with pytest.raises(ModelError, match=r"'input' must be float32, got float64"):
        model.run({"input": good.astype(np.float64)})
    with pytest.raises(ModelError, match=r"'input' must have shape \(N, 10\), got \(3, 9\)"):
        model.run({"input": np.zeros((3, 9), np.float32)})
    with pytest.raises(ModelError, match=r"must have shape \(N, 10\), got \(10,\)"):
        model.run({"input": np.zeros(10, np.float32)})
    with pytest.raises(ModelError, match="missing input 'input'"):
        model.run({})
    with pytest.raises(ModelError, match="unknown output 'score'"):
        model.run({"input": good}, outputs=["score"])
    with pytest.raises(ModelError, match="unsupported dtype"):
        model.run({"input": good.astype(np.float16)})
    # non-contiguous input is fine (made contiguous, not converted)
    wide = np.zeros((3, 20), np.float32)
    assert model.run({"input": wide[:, ::2]})["dense_3"].shape == (3, 1)


def test_fixed_batch_model_rejects_other_batch_sizes(shared_data):
    model = OnnxModel(shared_data / SUSY1904 / "onnx" / "OneLeptonMultiJets2018_4jets.onnx")
    with pytest.raises(ModelError, match=r"must have shape \(1, 65\), got \(2, 65\)"):
        model.run({"input.1": np.zeros((2, 65), np.float32)})


def test_bad_model_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does_not_exist\.onnx"):
        OnnxModel(tmp_path / "does_not_exist.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelError, match=r"junk.onnx: ONNX Runtime cannot load the model"):
        OnnxModel(junk)


def test_runtime_is_the_wheel_library_loaded_by_the_core():
    info = recast_ml._ort.info()
    assert info["version"] == ort.__version__
    assert "onnxruntime/capi/libonnxruntime.so.1" in str(info["library"])
    assert info["api_version"] == recast_ml._core.onnxruntime_header_api_version() == 21
