"""The README's code blocks run as written: every ```bash and ```python block, in order, in one
empty folder with the venv on PATH (the folder stands for the checkout: `examples/` and `.venv`
are links to the repository's), each bash block with `set -euo pipefail`. A block preceded by
`<!-- readme-test: skip ... -->` is not run: only the two set-up commands and scans may be."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SKIP = "<!-- readme-test: skip"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)


def code_blocks(text: str) -> list[tuple[str, str, bool]]:
    """(language, code, skipped) of every fenced block, in order."""
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        out.append((m.group(1), m.group(2), before.startswith(SKIP)))
    return out


def commands(code: str) -> list[str]:
    """The commands of a bash block (continuation lines joined, comments and blank lines dropped)."""
    joined = code.replace("\\\n", " ")
    lines = (re.sub(r"(^|\s+)#.*$", "", line).strip() for line in joined.splitlines())
    return [line for line in lines if line]


def test_block_parsing():
    text = "a\n```bash\nx \\\n  y  # why\n# c\n```\n<!-- readme-test: skip (why) -->\n```python\nz\n```\n```\nno\n```\n"
    assert code_blocks(text) == [
        ("bash", "x \\\n  y  # why\n# c\n", False),
        ("python", "z\n", True),
        ("", "no\n", False),
    ]
    assert commands(code_blocks(text)[0][1]) == ["x    y"]


def test_only_the_set_up_commands_and_scans_are_skipped():
    blocks = [
        (lang, code, skipped) for lang, code, skipped in code_blocks(README.read_text()) if lang in ("bash", "python")
    ]
    setup = [commands(code) for lang, code, skipped in blocks if skipped and "scripts/main.sh" in code]
    assert setup == [["bash scripts/main.sh", "bash scripts/test.sh"]]  # EXACTLY the two set-up commands
    others = [commands(code) for lang, code, skipped in blocks if skipped and "scripts/main.sh" not in code]
    assert all(cmd.startswith("recast-ml scan ") for block in others for cmd in block), others
    assert len([b for b in blocks if not b[2]]) >= 6


def _environment(folder: Path) -> dict[str, str]:
    venv_bin = Path(sys.executable).parent
    (folder / "examples").symlink_to(REPO / "examples")
    (folder / ".venv").symlink_to(venv_bin.parent)
    env = dict(os.environ)
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv_bin.parent)
    env.pop("PYTHONPATH", None)
    return env


def documented_keys() -> set[str]:
    """Field names in docs/results.md (as `name`) and in the JSON Schemas of the run document and of
    its per-analysis part (property names: a field documented there by its description counts)."""
    names = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", (REPO / "docs" / "results.md").read_text()))
    for schema in ("run.schema.json", "results.schema.json"):
        path = REPO / "python" / "recast_ml" / "schemas" / schema
        if path.is_file():
            names |= set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"\s*:\s*\{', path.read_text()))
    return names


def keys(doc: object, path: str = "") -> list[tuple[str, str]]:
    """(path, key) of every key of a JSON document, lists entered through their items; free-form
    maps (keyed by names of regions, models, benchmarks ...) are not followed."""
    out: list[tuple[str, str]] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append((path, k))
            if k not in ("status", "metadata", "provenance", "versions", "channels"):
                out += keys(v, f"{path}.{k}")
    elif isinstance(doc, list):
        for item in doc[:1]:
            out += keys(item, f"{path}[]")
    return out


def test_readme_blocks_run_as_written(tmp_path):
    env = _environment(tmp_path)
    blocks = [(lang, code) for lang, code, skipped in code_blocks(README.read_text()) if not skipped]
    ran = 0
    for k, (lang, code) in enumerate(blocks):
        if lang == "bash":
            cmd = ["bash", "-c", "set -euo pipefail\n" + code]
        elif lang == "python":
            script = tmp_path / f"readme_block_{k}.py"
            script.write_text(code)
            cmd = [str(Path(sys.executable).parent / "python"), str(script)]
        else:
            continue
        res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
        assert res.returncode == 0, (
            f"README block {k} ({lang}) failed:\n{code}\n"
            f"--- stdout\n{res.stdout[-3000:]}\n--- stderr\n{res.stderr[-3000:]}"
        )
        ran += 1
    assert ran >= 6
    # what the blocks claim they wrote
    for name in ("spectrum.slha", "bdt_weights.xml.gz", "nonres_even.csv", "signal.hepmc3.gz", "bdt.onnx"):
        assert (tmp_path / name).is_file(), name
    doc = json.loads((tmp_path / "out" / "file" / "results.json").read_text())
    assert [a["analysis"]["id"] for a in doc["analyses"]] == ["ATLAS-SUSY-2018-22", "ATLAS-SUSY-2019-04"]
    assert doc["input"]["n_events"] == 200
    piped = json.loads((tmp_path / "out" / "pipe" / "results.json").read_text())
    assert piped["analyses"][0]["regions"] == doc["analyses"][0]["regions"]  # the same events through a pipe
    # every field of the run document is documented (docs/results.md, or the run schema)
    undocumented = sorted({f"{p}.{k}" for p, k in keys(doc) if k not in documented_keys()})
    assert undocumented == [], f"fields of results.json missing from docs/results.md: {undocumented}"
