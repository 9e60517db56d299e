"""Damaged event files raise InputError naming file and line; they are never read as a different
sample (an event dropped, a particle pushed out, fields shifted, a non-finite number taken in).

The samples are the small files of hepmc_samples.small_texts (written by pyhepmc, and a
hand-written LHE file); each test damages one line the way a broken generator, a bad copy or a
hand edit would.
"""

from __future__ import annotations

import re

import pytest

from hepmc_samples import SMALL_LHE, small_texts
from recast_ml import InputError, read_events


@pytest.fixture(scope="module")
def texts():
    return small_texts()


def line_index(lines, prefix, skip=0):
    return [i for i, line in enumerate(lines) if line.startswith(prefix)][skip]


def damaged(tmp_path, name, text, prefix, edit, skip=0):
    """Writes `text` with the line starting with `prefix` (the skip-th such line) replaced by
    edit(fields) (fields: its blank-separated fields); returns (path, 1-based line number)."""
    lines = text.splitlines(keepends=True)
    k = line_index(lines, prefix, skip)
    lines[k] = edit(lines[k].split()) + "\n"
    path = tmp_path / name
    path.write_text("".join(lines))
    return path, k + 1


def insert(fields, pos, token):
    return " ".join([*fields[:pos], token, *fields[pos:]])


def replace(fields, pos, token):
    return " ".join([*fields[:pos], token, *fields[pos + 1 :]])


# ---- field counts ------------------------------------------------------------------------------

HEPMC_FIELD_CASES = [
    # (format, line prefix, skip, edit, message)
    ("hepmc3", "P ", 3, lambda f: " ".join([*f, "7"]), "extra field '7' after the status in the particle line"),
    ("hepmc3", "P ", 3, lambda f: insert(f, 9, "0"), "extra field '22' after the status"),
    ("hepmc3", "P ", 3, lambda f: " ".join(f[:-1]), "line ended early: expected status"),
    ("hepmc3", "E ", 1, lambda f: " ".join([*f, "9"]), "unexpected extra field '9' after number of particles"),
    ("hepmc3", "V ", 1, lambda f: " ".join([*f, "3"]), "unexpected extra field '3' after the incoming particle list"),
    ("hepmc3", "U ", 1, lambda f: " ".join([*f, "X"]), "unexpected extra field 'X' after the length unit"),
    ("hepmc3", "W 2", 0, lambda f: " ".join([*f, "0.1"]), "3 event weights, but the run info declares 2 weight names"),
    ("hepmc3", "W 2", 0, lambda f: " ".join(f[:-1]), "1 event weights, but the run info declares 2 weight names"),
    ("hepmc2", "P ", 3, lambda f: " ".join([*f, "7"]), "unexpected extra field '7' after the flow entries"),
    ("hepmc2", "P ", 3, lambda f: insert(f, 9, "0"), "unexpected extra field '0' after the flow entries"),
    ("hepmc2", "V ", 1, lambda f: " ".join([*f, "1"]), "unexpected extra field '1' after the vertex weights"),
    ("hepmc2", "V ", 1, lambda f: replace(f, 9, "1"), "line ended early: expected vertex weight"),
    ("hepmc2", "E ", 1, lambda f: " ".join([*f, "0.3"]), "unexpected extra field '0.3' after the event weights"),
    ("hepmc2", "C ", 1, lambda f: " ".join([*f, "1"]), "unexpected extra field '1' after the cross-section error"),
    ("hepmc2", "U ", 1, lambda f: " ".join([*f, "X"]), "unexpected extra field 'X' after the length unit"),
    ("hepmc2", "N ", 1, lambda f: " ".join([*f, "x"]), "unexpected text 'x' after the 2 weight names"),
    ("hepmc2", "P ", 3, lambda f: replace(f, 12, "-1"), "negative number of flow entries -1"),
]


@pytest.mark.parametrize(("fmt", "prefix", "skip", "edit", "message"), HEPMC_FIELD_CASES)
def test_hepmc_field_counts_are_checked(texts, tmp_path, fmt, prefix, skip, edit, message):
    path, line = damaged(tmp_path, f"bad.{fmt}", texts[fmt], prefix, edit, skip)
    with pytest.raises(InputError, match=rf"bad\.{fmt}:{line} \(event \d\): .*{re.escape(message)}"):
        read_events(path)


def test_blank_separated_weight_names_bound_the_weight_count(texts, tmp_path):
    """HepMC3 < 3.2.6 separates the weight names by blanks (names may contain blanks): the number
    of names is then an upper bound of the number of weights."""
    text = texts["hepmc3"].replace("W nominal\\|muR2", "W nominal muR2 (MUR = 2)")
    path = tmp_path / "old.hepmc3"
    path.write_text(text)
    assert len(read_events(path)) == 3
    path.write_text(text.replace("W nominal muR2 (MUR = 2)", "W nominal muR2"))
    assert len(read_events(path)) == 3
    bad, line = damaged(tmp_path, "bad.hepmc3", path.read_text(), "W 2", lambda f: " ".join([*f, "0.1"]))
    with pytest.raises(
        InputError, match=rf"bad\.hepmc3:{line} \(event 1\): 3 event weights, but the run info declares 2"
    ):
        read_events(bad)


LHE_FIELD_CASES = [
    # (line prefix, skip, edit, message)
    ("        6  2", 0, lambda f: insert(f, 6, "0"), "extra field '9.0e+00' after SPINUP in the particle line"),
    ("        6  2", 0, lambda f: " ".join(f[:-1]), "line ended early: expected SPINUP"),
    ("        6  2", 0, lambda f: " ".join([*f, "1"]), "unexpected extra field '1' after SPINUP"),
    (" 4 1", 0, lambda f: " ".join([*f, "1"]), "unexpected extra field '1' after AQCDUP in the event line"),
    (" 4 1", 0, lambda f: " ".join(f[:-1]), "line ended early: expected AQCDUP"),
    ("2212 2212", 0, lambda f: " ".join([*f, "1"]), "unexpected extra field '1' after NPRUP"),
    ("1.20e+01", 0, lambda f: " ".join(f[:-1]), "line ended early: expected LPRUP"),
]


@pytest.mark.parametrize(("prefix", "skip", "edit", "message"), LHE_FIELD_CASES)
def test_lhe_field_counts_are_checked(tmp_path, prefix, skip, edit, message):
    path, line = damaged(tmp_path, "bad.lhe", SMALL_LHE, prefix, edit, skip)
    with pytest.raises(InputError, match=rf"bad\.lhe:{line}( \(event 0\))?: .*{re.escape(message)}"):
        read_events(path)


# ---- LHE structure -----------------------------------------------------------------------------


def test_lhe_damaged_event_tag_is_an_error(tmp_path):
    lines = SMALL_LHE.splitlines(keepends=True)
    k = line_index(lines, "<event>", 1)
    for tag in ("<evnt>", "<event", "event>", "<Event>", "<eve"):
        lines_bad = [*lines[:k], tag + "\n", *lines[k + 1 :]]
        path = tmp_path / "bad.lhe"
        path.write_text("".join(lines_bad))
        with pytest.raises(InputError, match=rf"bad\.lhe:{k + 1}"):
            read_events(path)


def test_lhe_duplicated_particle_line_is_an_error(tmp_path):
    """NUP = 4 and five particle lines: the last particle must not be pushed out silently."""
    lines = SMALL_LHE.splitlines(keepends=True)
    k = line_index(lines, "        6  2")
    path = tmp_path / "dup.lhe"
    path.write_text("".join([*lines[: k + 1], lines[k], *lines[k + 1 :]]))
    expected = rf"dup\.lhe:{k + 3} \(event 0\): unexpected line '24  1 .*' after the 4 particles the event declares"
    with pytest.raises(InputError, match=expected):
        read_events(path)


def test_lhe_too_few_particle_lines_is_an_error(tmp_path):
    path, _ = damaged(tmp_path, "few.lhe", SMALL_LHE, " 4 1", lambda f: replace(f, 0, "5"))
    with pytest.raises(InputError, match=r"few\.lhe:\d+ \(event 0\): event declares 5 particles but only 4 were found"):
        read_events(path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("</event>\n</LesHouchesEvents>", "</event>\n<stray/>\n</LesHouchesEvents>", "unexpected line '<stray/>'"),
        ("</event>\n</LesHouchesEvents>", "</event>\n1 2 3\n</LesHouchesEvents>", "unexpected line '1 2 3'"),
        ("</LesHouchesEvents>\n", "</LesHouchesEvents>\n<event>\n", "'<event>' after </LesHouchesEvents>"),
        ("<rwgt>", "<foo>", "unexpected line '<foo>' in <event>"),
        ("</rwgt>\n", "", "'</event>' before the <rwgt> block is closed"),
        ("<init>\n", "", "unexpected line '2212 2212"),
        ("</init>\n", "</init>\n<init>\n</init>\n", "a second <init> block"),
        ("1.0e+00 1\n</init>", "1.0e+00 1\n3.0 1.0 1.0 2\n</init>", "unexpected line '3.0 1.0 1.0 2' in <init>"),
    ],
)
def test_lhe_unexpected_lines_are_errors(tmp_path, old, new, message):
    assert old in SMALL_LHE
    path = tmp_path / "bad.lhe"
    path.write_text(SMALL_LHE.replace(old, new, 1))
    with pytest.raises(InputError, match=rf"bad\.lhe:\d+.*: {re.escape(message)}"):
        read_events(path)


# Layouts of real LHE writers (abridged): they must keep reading, with the same numbers.
MG5_LHE = (
    SMALL_LHE.replace(
        "1.0e+00 1\n</init>",
        "1.0e+00 1\n<generator name='MadGraph5_aMC@NLO' version='3.5.1'>please cite 1405.0301 </generator>\n</init>",
    )
    .replace("<event>", '<event npLO=" -1 " npNLO=" 1 ">')
    .replace(
        "</rwgt>\n",
        "</rwgt>\n<mgrwt>\n<rscale>  0 0.91188000E+02</rscale>\n<asrwt>0</asrwt>\n"
        '<pdfrwt beam="1">  1       21 0.61E-01 0.91E+02</pdfrwt>\n</mgrwt>\n'
        '<scales pt_clust_1="0.1" pt_clust_2="0.2"/>\n<clustering>\n<clus> 1 2 </clus>\n</clustering>\n',
    )
)
PYTHIA_LHE = SMALL_LHE.replace(
    "<header>\n<!-- hand-written test file -->\n</header>\n",
    "<!--\n File written by Pythia8::LHEF3FromPythia8 on 1 Jan 2025\n-->\n",
).replace(
    "<rwgt>\n<wgt id='1'> 0.3 </wgt>\n</rwgt>\n",
    '<weights> 0.25 0.3 </weights>\n<scales muf="91.2" mur="91.2" mups="91.2"></scales>\n',
)
POWHEG_LHE = SMALL_LHE.replace(
    '<LesHouchesEvents version="3.0">\n',
    '<LesHouchesEvents version="1.0">\n<!--\nfile generated with POWHEG-BOX-V2\nInput file contained:\n-->\n',
).replace(
    "<rwgt>\n<wgt id='1'> 0.3 </wgt>\n</rwgt>\n",
    "#  pdf  21   21  0.6E-01  0.4E-01  0.9E+02  0.1E+00  0.2E+00\n#rwgt  1  1  0.1  12345  0  0\n"
    "<!-- a comment\n   on two lines -->\n",
)


@pytest.mark.parametrize("layout", ["MG5", "Pythia", "Powheg"])
def test_real_world_lhe_layouts_read(tmp_path, layout):
    text = {"MG5": MG5_LHE, "Pythia": PYTHIA_LHE, "Powheg": POWHEG_LHE}[layout]
    assert text != SMALL_LHE
    plain = tmp_path / "plain.lhe"
    plain.write_text(SMALL_LHE)
    path = tmp_path / f"{layout}.lhe"
    path.write_text(text)
    a, b = read_events(plain), read_events(path)
    assert len(b) == 2
    for column in ("px", "py", "pz", "e", "mass", "pid", "status", "weight", "particle_offsets", "parents"):
        assert getattr(b, column).tolist() == getattr(a, column).tolist(), column
    assert b.cross_section_pb == 12.0


# ---- declared counts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "prefix", "edit", "message"),
    [
        ("hepmc3", "E ", lambda f: replace(f, 2, "1000000000"), "1000000000 vertices but 1 vertex lines and 1"),
        ("hepmc3", "E ", lambda f: replace(f, 3, "1000000000"), "event declares 1000000000 particles but 6 were found"),
        ("hepmc3", "E ", lambda f: replace(f, 2, "1"), "event declares 1 vertices but 1 vertex lines and 1 parent"),
        ("hepmc2", "E ", lambda f: replace(f, 8, "1000000000"), "event declares 1000000000 vertices but 2 were found"),
    ],
)
def test_declared_counts_are_checked_without_allocating_them(texts, tmp_path, fmt, prefix, edit, message):
    path, line = damaged(tmp_path, f"big.{fmt}", texts[fmt], prefix, edit)
    with pytest.raises(InputError, match=rf"big\.{fmt}:{line} \(event 0\): .*{re.escape(message)}"):
        read_events(path)


def test_lhe_huge_nup_is_an_error(tmp_path):
    path, _ = damaged(tmp_path, "big.lhe", SMALL_LHE, " 4 1", lambda f: replace(f, 0, "1000000000"))
    with pytest.raises(InputError, match=r"event declares 1000000000 particles but only 4 were found"):
        read_events(path)


# ---- non-finite numbers ------------------------------------------------------------------------

NON_FINITE_CASES = [
    # (format, line prefix, skip, field index, new text, the bad number, what)
    ("hepmc3", "P ", 2, 4, "nan", "nan", "px"),
    ("hepmc3", "P ", 2, 7, "inf", "inf", "energy"),
    ("hepmc3", "P ", 2, 8, "-inf", "-inf", "generated mass"),
    ("hepmc3", "W 2", 0, 1, "nan", "nan", "event weight"),
    ("hepmc3", "V ", 0, 3, "[1,2] @ nan 0 0 0", "nan", "position x"),
    ("hepmc3", "E ", 0, 3, "6 @ 0 0 inf 0", "inf", "position z"),
    ("hepmc3", "A ", 0, 3, "nan", "nan", "cross section"),
    ("hepmc2", "P ", 2, 3, "NaN", "NaN", "px"),
    ("hepmc2", "P ", 2, 7, "infinity", "infinity", "generated mass"),
    ("hepmc2", "V ", 0, 3, "nan", "nan", "vertex x"),
    ("hepmc2", "E ", 0, 13, "inf", "inf", "event weight"),
    ("hepmc2", "C ", 0, 1, "nan", "nan", "cross section"),
    ("lhe", "        6  2", 0, 6, "nan", "nan", "PUP(1) (px)"),
    ("lhe", "        6  2", 0, 10, "inf", "inf", "PUP(5) (mass)"),
    ("lhe", " 4 1", 0, 2, "nan", "nan", "XWGTUP (event weight)"),
    ("lhe", "1.20e+01", 0, 0, "inf", "inf", "XSECUP (pb)"),
]


@pytest.mark.parametrize(("fmt", "prefix", "skip", "pos", "text", "bad", "what"), NON_FINITE_CASES)
def test_non_finite_numbers_are_errors(texts, tmp_path, fmt, prefix, skip, pos, text, bad, what):
    path, line = damaged(tmp_path, f"nan.{fmt}", texts[fmt], prefix, lambda f: replace(f, pos, text), skip)
    message = rf"nan\.{fmt}:{line}( \(event \d\))?: expected {re.escape(what)}, got '{bad}' \(not a finite number\)"
    with pytest.raises(InputError, match=message):
        read_events(path)


# ---- undecodable bytes -------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "prefix"), [("hepmc3", "P "), ("hepmc2", "P "), ("lhe", "        6  2")])
def test_stray_byte_in_a_particle_line_gives_a_readable_message(texts, tmp_path, fmt, prefix):
    lines = texts[fmt].encode().split(b"\n")
    k = [i for i, line in enumerate(lines) if line.startswith(prefix.encode())][2 if fmt != "lhe" else 0]
    fields = lines[k].split()
    pos = {"hepmc3": 4, "hepmc2": 3, "lhe": 6}[fmt]
    fields[pos] = fields[pos][:3] + b"\xff" + fields[pos][3:]
    lines[k] = b" ".join(fields)
    path = tmp_path / f"byte.{fmt}"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(InputError) as info:
        read_events(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{k + 1}")
    assert "\\xff" in message  # the byte, escaped
    message.encode("utf-8")  # valid text
