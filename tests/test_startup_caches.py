"""The caches and the writer that keep `recast-ml run`'s work outside the event loop short (issue 14:
`recast-ml run` end to end at least as fast as a Python columnar chain): the parsed-YAML cache of
definition files, the cached checksum of compressed model files, and the HEPData YAML writer.
Each must give exactly what the slow path gives: the same document with the same file positions,
the same checksum verdicts, YAML that reads back equal."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import math
import random

import pytest
import yaml

from recast_ml import ConfigError
from recast_ml.analysis import Analysis, Located, find_definition, load_definition, load_model, load_yaml
from recast_ml.export.hepdata import dump_yaml


def _positions(x):
    """Every string with its position, in document order (keys included)."""
    if isinstance(x, Located):
        return [(str(x), x.line, x.col, x.file)]
    if isinstance(x, dict):
        return [p for k, v in x.items() for p in _positions(k) + _positions(v)]
    if isinstance(x, list):
        return [p for v in x for p in _positions(v)]
    return [(type(x).__name__, x)]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("RECAST_CACHE_DIR", str(d))
    return d


# ------------------------------------------------------------------------------------------------
# parsed-YAML cache
# ------------------------------------------------------------------------------------------------
def test_a_cached_definition_parse_equals_the_fresh_parse_with_every_position(cache):
    path = find_definition("ATLAS-SUSY-2018-22")
    fresh = load_yaml(path)
    entries = list((cache / "yaml").glob("*.json"))
    assert len(entries) == 1
    again = load_yaml(path)
    assert again == fresh
    assert _positions(again) == _positions(fresh)
    assert any(line > 100 for _, line, *_ in (p for p in _positions(again) if len(p) == 4))
    # a fresh copy on every hit: marking one does not change the next
    next(iter(again)).file = "other.yaml"
    assert _positions(load_yaml(path)) == _positions(fresh)


def test_a_definition_loaded_through_the_cache_runs_identically(cache):
    a = load_definition(find_definition("ATLAS-SUSY-2018-22")).resolved()
    assert list((cache / "yaml").glob("*.json"))
    b = load_definition(find_definition("ATLAS-SUSY-2018-22")).resolved()
    assert json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("variables:\n  ht: 'HT(jets) + met.ptt'\nregions:\n  - name: a\n", ":5:23:"),
        ("regions:\n  - name: a\n    cuts:\n      - c1: count(jets) >= 2\n      - c2: count(jets) + 1\n", ":8:13:"),
    ],
)
def test_errors_found_after_parsing_keep_their_position_through_the_cache(cache, tmp_path, body, where):
    """The core's expression errors point at file:line:column; from a cached parse too."""
    from test_analysis import HEAD, toy_table

    path = tmp_path / "analysis.yaml"
    path.write_text(HEAD + body)
    messages = []
    for _ in range(2):
        with pytest.raises(ConfigError) as err:
            Analysis.for_arrays(path, toy_table())
        messages.append(str(err.value))
    assert list((cache / "yaml").glob("*.json"))
    assert messages[0] == messages[1]
    assert f"{path}{where}" in messages[1]


def test_a_damaged_cache_entry_is_parsed_again(cache, tmp_path, caplog):
    f = tmp_path / "a.yaml"
    f.write_text("x: [1, 2.5, text]\ny: {z: null}\n")
    first = load_yaml(f)
    (entry,) = (cache / "yaml").glob("*.json")
    for damage in (b"{not json", b'{"L": [1]}', b'{"q": 1}', b""):
        entry.write_bytes(damage)
        assert load_yaml(f) == first == {"x": [1, 2.5, "text"], "y": {"z": None}}
    assert "ignoring the cached YAML parse" in caplog.text


def test_values_json_cannot_hold_are_not_cached_and_still_load(cache, tmp_path):
    f = tmp_path / "d.yaml"
    f.write_text("when: 2019-05-01\nnan: .nan\nbig: 123456789012345678901234567890\n1: int key\n")
    for _ in range(2):
        doc = load_yaml(f)
        assert doc["when"] == datetime.date(2019, 5, 1)
        assert doc[1] == "int key"
        assert math.isnan(doc["nan"])
        assert doc["big"] == 123456789012345678901234567890
    assert not list((cache / "yaml").glob("*.json"))
    g = tmp_path / "e.yaml"
    g.write_text("nan: .nan\ninf: -.inf\n2: int key\ntrue: false\nbig: 123456789012345678901234567890\n")
    load_yaml(g)
    assert list((cache / "yaml").glob("*.json"))
    again = load_yaml(g)
    assert math.isnan(again["nan"])
    assert again["inf"] == -math.inf
    assert again[2] == "int key"
    assert again[True] is False
    assert again["big"] == 123456789012345678901234567890


def test_invalid_yaml_is_not_cached_and_reports_each_time(cache, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("a: 1\na: 2\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="duplicate key"):
            load_yaml(f)
    assert not (cache / "yaml").exists() or not list((cache / "yaml").glob("*.json"))


def test_an_unusable_cache_is_not_an_error(tmp_path, monkeypatch, shared_data):
    """A cache folder that cannot be read or written (another user's, mode 0700: every access
    is EACCES; simulated, as root may do anything) only costs time: definitions, schema checks
    and models load as without a cache."""
    import pathlib

    cache = tmp_path / "cache"
    monkeypatch.setenv("RECAST_CACHE_DIR", str(cache))

    def denied(original):
        def call(self, *a, **k):
            if str(self).startswith(str(cache)):
                raise PermissionError(13, "Permission denied", str(self))
            return original(self, *a, **k)

        return call

    for name in ("is_file", "exists", "read_bytes", "read_text", "write_bytes", "mkdir", "replace"):
        monkeypatch.setattr(pathlib.Path, name, denied(getattr(pathlib.Path, name)))
    for _ in range(2):  # the definition, its includes, the schema check and its 16 models
        spec = load_definition(find_definition("ATLAS-SUSY-2018-22")).spec()
        assert spec
    src = shared_data / "ATLAS-SUSY-2018-22" / "tmva_xml" / "ZeroLepton2018-SRBDT-GGd1_weight1.xml"
    gz = tmp_path / "m.xml.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    assert load_model(gz, hashlib.sha256(src.read_bytes()).hexdigest())
    f = tmp_path / "a.yaml"
    f.write_text("a: b\n")
    assert load_yaml(f) == {"a": "b"} == load_yaml(f)


# ------------------------------------------------------------------------------------------------
# checksum of compressed model files
# ------------------------------------------------------------------------------------------------
def test_a_compressed_models_checksum_is_cached_and_still_enforced(cache, tmp_path, monkeypatch, shared_data):
    src = shared_data / "ATLAS-SUSY-2018-22" / "tmva_xml" / "ZeroLepton2018-SRBDT-GGd1_weight1.xml"
    gz = tmp_path / "model.xml.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    first = load_model(gz, digest)
    note = cache / "models" / f"gz-{hashlib.sha256(gz.read_bytes()).hexdigest()}.sha256"
    assert note.read_text() == digest

    def no_decompress(*a, **k):
        raise AssertionError("decompressed although the checksum is cached")

    with monkeypatch.context() as m:
        m.setattr(gzip, "decompress", no_decompress)
        assert load_model(gz, digest) == first
        with pytest.raises(ConfigError, match="the model card says"):  # the card's checksum still decides
            load_model(gz, "0" * 64)
    # another compressed file (one byte of the model changed) is not taken for the cached one
    other = tmp_path / "other.xml.gz"
    data = src.read_bytes()
    other.write_bytes(gzip.compress(data[:-2] + b" " + data[-1:]))
    with pytest.raises(ConfigError, match="the model card says"):
        load_model(other, digest)
    # a damaged note is not trusted
    note.write_text("garbage")
    assert load_model(gz, digest) == first
    assert note.read_text() == digest
    # the git blob id check still reads the decompressed content
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert load_model(gz, None, git_blob_sha1=blob) == first


# ------------------------------------------------------------------------------------------------
# HEPData YAML writer
# ------------------------------------------------------------------------------------------------
AWKWARD_STRINGS = [
    "",
    " ",
    "-",
    "--",
    "- x",
    "a: b",
    "a:b",
    "#x",
    "a #b",
    "x ",
    " x",
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "n",
    "null",
    "Null",
    "~",
    "true",
    "False",
    "1",
    "1.5",
    "1e5",
    "0x1F",
    ".5",
    ".inf",
    ".nan",
    "1:30",
    "2019-05-01",
    "√s",
    "σ × L",
    "E_T^miss [GeV]",
    'say "hi"',
    "back\\slash",
    "tab\there",
    "line\nbreak",
    "nel\x85x",
    "ls\u2028x",
    "\ufeffbom",
    "é",
    "[a]",
    "{a}",
    "*ref",
    "&anchor",
    "!tag",
    "%dir",
    "@x",
    "`x",
    "|",
    ">",
    "'q'",
    "a'b",
    "SR-BDT-GGd1",
    "p_T(j1) > 50",
    "m_eff/GeV",
    "\U0001d70e_T > 200\nGeV",
    "x\t\U0001f600",
    "\U0001d70e",
    "\u00a0nbsp",
    "\x1b[0m",
    "\ud7ff\ue000",
    "<<",
    "=",
    "?",
    "? x",
    "a,b",
    "x\x00y",
    "\x7f",
]
AWKWARD_NUMBERS = [
    0,
    -1,
    2**40,
    10**30,
    0.0,
    -0.0,
    1.0,
    -2.5,
    1e-7,
    1e16,
    1.5e300,
    5e-324,
    0.1,
    1 / 3,
    123456789.123,
    math.inf,
    -math.inf,
    True,
    False,
    None,
]


def _same(a, b):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=False))
    return type(a) is type(b) and a == b and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


@pytest.mark.parametrize("value", AWKWARD_STRINGS + AWKWARD_NUMBERS + [math.nan])
def test_hepdata_yaml_reads_back_every_scalar_exactly(value):
    doc = {"key": value, "list": [value, {"inner": value}], str(value): 1}
    assert _same(yaml.safe_load(dump_yaml(doc)), doc)


def test_hepdata_yaml_reads_back_random_nested_documents():
    rng = random.Random(7)
    pool = AWKWARD_STRINGS + AWKWARD_NUMBERS

    def build(depth):
        r = rng.random()
        if depth > 3 or r < 0.4:
            return rng.choice(pool) if rng.random() < 0.8 else rng.uniform(-1e6, 1e6)
        if r < 0.7:
            return [build(depth + 1) for _ in range(rng.randrange(0, 4))]
        return {str(rng.choice(pool)): build(depth + 1) for _ in range(rng.randrange(0, 4))}

    for _ in range(400):
        doc = {"root": build(0), "values": [build(1) for _ in range(3)]}
        text = dump_yaml(doc)
        assert _same(yaml.safe_load(text), doc), text


def test_hepdata_yaml_is_block_style_like_pyyaml():
    doc = {
        "independent_variables": [{"header": {"name": "SR", "units": ""}, "values": [{"value": "SR-1"}]}],
        "dependent_variables": [
            {"header": {"name": "S"}, "values": [{"value": 1.5, "errors": [{"symerror": 0.1, "label": "MC stat"}]}]}
        ],
    }
    assert dump_yaml(doc) == yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def test_hepdata_yaml_refuses_what_it_cannot_write():
    with pytest.raises(TypeError):
        dump_yaml({"a": object()})
    with pytest.raises(TypeError):
        dump_yaml({"when": datetime.date(2020, 1, 1)})


def test_every_document_of_a_real_run_reads_back_exactly(tmp_path, monkeypatch):
    """The HEPData documents of a real run (cutflows, SR tables, qualifiers, missing marks) each
    read back equal to what was written, and the submission file lists them."""
    from recast_ml.export import hepdata
    from recast_ml.run import run_job

    written = []

    def recording(doc):
        text = dump_yaml(doc)
        written.append((doc, text))
        return text

    monkeypatch.setattr(hepdata, "dump_yaml", recording)
    out = tmp_path / "out"
    run_job(["ATLAS-SUSY-2018-22"], generate="gluino_direct:1400,1000", n_events=30, output=out)
    assert len(written) > 60
    for doc, text in written:
        assert _same(yaml.safe_load(text), doc), text[:300]
    assert any(hepdata.MISSING in text for _, text in written)
    subs = list(yaml.safe_load_all((out / "hepdata" / "submission.yaml").read_text()))
    assert [s["data_file"] for s in subs[1:]] == sorted(
        (p.name for p in (out / "hepdata").glob("*.yaml") if p.name != "submission.yaml"),
        key=[s["data_file"] for s in subs[1:]].index,
    )


# ------------------------------------------------------------------------------------------------
# schema validation remembered
# ------------------------------------------------------------------------------------------------
def test_a_definition_that_passed_the_schema_is_not_validated_again(tmp_path):
    """Loading a definition a second time does not import jsonschema; an invalid one is refused
    every time, and so is a valid one edited into an invalid one."""
    import os
    import subprocess
    import sys

    from test_analysis import HEAD

    good = tmp_path / "analysis.yaml"
    good.write_text(HEAD + "regions:\n  - name: a\n    cuts:\n      - c: count(jets) >= 2\n")
    code = (
        "import sys\n"
        "from recast_ml import ConfigError\n"
        "from recast_ml.analysis import load_definition\n"
        "try:\n"
        f"    load_definition({str(good)!r})\n"
        "    print('ok', 'jsonschema' in sys.modules)\n"
        "except ConfigError as e:\n"
        "    print('error', e)\n"
    )
    env = {**os.environ, "RECAST_CACHE_DIR": str(tmp_path / "cache")}

    def load() -> str:
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout

    assert load().strip() == "ok True"
    assert list((tmp_path / "cache" / "valid").iterdir())
    assert load().strip() == "ok False"
    good.write_text(HEAD + "regions:\n  - name: a\n    cutz: []\n")  # the schema's error, again on every load
    for _ in range(2):
        out = load()
        assert out.startswith("error ")
        assert "Additional properties are not allowed ('cutz'" in out
        assert f"{good}:5" in out


def test_hepdata_yaml_reads_back_random_unicode_strings():
    """Strings of random code points (controls, line breaks, the BMP, beyond U+FFFF; no lone
    surrogates, which UTF-8 cannot hold) read back exactly."""
    rng = random.Random(11)
    ranges = [(0, 0x20), (0x20, 0x7F), (0x7F, 0xA0), (0xA0, 0x2030), (0xE000, 0x10000), (0x10000, 0x110000)]
    for _ in range(2000):
        text = "".join(chr(rng.randrange(*rng.choice(ranges))) for _ in range(rng.randrange(0, 8)))
        doc = {"s": text, text: [text]}
        assert yaml.safe_load(dump_yaml(doc)) == doc, repr(text)
