"""Builds `examples/cpp` against the installed package (find_package(recast) with the CMake config
shipped in the wheel), as a C++ user would: shared by the C++ tests and benchmarks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import recast_ml

REPO = Path(__file__).resolve().parents[1]


def build_examples(build: Path, target: str | None = None) -> Path:
    """Configures and builds the examples (only ``target`` if given) in ``build``; returns ``build``.
    The venv's cmake (a test requirement installed by the bootstrap) is used, else the system's."""
    cmake = shutil.which("cmake", path=str(Path(sys.executable).parent)) or shutil.which("cmake")
    if cmake is None:
        raise RuntimeError("cmake not found")
    cmake_dir = Path(recast_ml.__file__).parent / "cmake" / "recast"
    if not (cmake_dir / "recastConfig.cmake").is_file():
        raise RuntimeError(f"no recastConfig.cmake in {cmake_dir}")
    configure = [cmake, "-S", REPO / "examples" / "cpp", "-B", build, f"-Drecast_DIR={cmake_dir}"]
    subprocess.run([*configure, "-DCMAKE_BUILD_TYPE=Release"], check=True, capture_output=True)
    subprocess.run(
        [cmake, "--build", build, "-j2", *(["--target", target] if target else [])], check=True, capture_output=True
    )
    return build
