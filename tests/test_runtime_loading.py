"""How the core finds and checks the ONNX Runtime library (run in subprocesses: the runtime is
loaded once per process)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

FAKE_OLD_ORT = r"""
// Stand-in for an ONNX Runtime older than the headers: GetApi(21) returns null, as ORT < 1.21 does.
extern "C" {
struct FakeBase {
    const void* (*GetApi)(unsigned int);
    const char* (*GetVersionString)();
};
static const void* get_api(unsigned int) { return nullptr; }
static const char* version() { return "1.10.0"; }
static FakeBase base{get_api, version};
const FakeBase* OrtGetApiBase() { return &base; }
}
"""


def recast_info(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RECAST_ONNXRUNTIME_LIBRARY", "ONNXRUNTIME_ROOT")}
    env.update(env_extra)
    code = (
        "import recast_ml, recast_ml.cli as c, sys\n"
        "try:\n    print(recast_ml._ort.info())\n"
        "except recast_ml.DependencyError as e:\n    print('DependencyError:', e)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def fake_old_runtime(tmp_path_factory):
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise RuntimeError("a C++ compiler is needed (installed by scripts/bootstrap.sh)")
    d = tmp_path_factory.mktemp("fake-ort")
    (d / "fake.cpp").write_text(FAKE_OLD_ORT)
    lib = d / "libonnxruntime.so.1.10.0"
    subprocess.run([cxx, "-shared", "-fPIC", "-o", lib, d / "fake.cpp"], check=True)
    return lib


def test_runtime_older_than_headers_is_refused(fake_old_runtime):
    res = recast_info({"RECAST_ONNXRUNTIME_LIBRARY": str(fake_old_runtime)})
    assert res.returncode == 0, res.stderr
    assert "DependencyError: ONNX Runtime 1.10.0 at" in res.stdout
    assert "is older than the C API version 21" in res.stdout
    assert "onnxruntime >= 1.21" in res.stdout


def test_missing_runtime_says_what_was_tried(tmp_path):
    res = recast_info({"RECAST_ONNXRUNTIME_LIBRARY": str(tmp_path / "libonnxruntime.so.1.99")})
    assert "DependencyError: could not load the ONNX Runtime library" in res.stdout
    assert "libonnxruntime.so.1.99" in res.stdout


def test_not_an_onnxruntime_library(tmp_path):
    import ctypes.util

    libz = ctypes.util.find_library("z")
    assert libz is not None
    res = recast_info({"RECAST_ONNXRUNTIME_LIBRARY": libz})
    assert "no symbol OrtGetApiBase" in res.stdout


def test_onnxruntime_root_sdk_layout(tmp_path):
    from recast_ml import _ort

    root = tmp_path / "sdk"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "libonnxruntime.so").symlink_to(_ort.wheel_library())
    res = recast_info({"ONNXRUNTIME_ROOT": str(root)})
    assert res.returncode == 0, res.stderr
    assert f"'library': '{root}/lib/libonnxruntime.so'" in res.stdout
