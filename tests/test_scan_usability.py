"""`recast-ml scan` as a new user meets it: an SLHA file without XSECTION blocks and an unknown
analysis refused before the workers start, a --scheduler that cannot be reached in one line, points
whose best SR rests on few MC events flagged UNRELIABLE (report and terminal), a per-point summary
at the end, no -wal/-shm left beside the store, and a store error naming its path once. The scans
here are stores written by hand (no Pythia, no Dask)."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from recast_ml import scan
from recast_ml._core import ConfigError
from recast_ml.cli import main


def _no_workers(*_a, **_k):
    raise AssertionError("the scan started its workers")


def test_an_slha_scan_without_xsection_blocks_is_refused_before_the_workers(tmp_path, monkeypatch, capsys):
    """Every point failed on its worker with 'give the cross section' (scan has no --cross-section),
    exit 1; now one line, exit 2, naming the file and what to do, and no store made."""
    monkeypatch.setattr(scan, "_execute", _no_workers)
    spectrum = tmp_path / "spectrum.slha"
    spectrum.write_text("BLOCK MASS\n  1000021  1.4E+03\n  1000022  1.0E+03\n")
    out = tmp_path / "scan1"
    args = ["scan", "--slha", str(spectrum), "--process", "gluino", "-n", "5", "-o", str(out), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"recast-ml: error: {spectrum.resolve()}: no XSECTION block for process gluino")
    assert "add XSECTION blocks" in err
    assert "--model" in err
    assert not (out / "scan.sqlite").exists()


def _point(key, m1, m2, *, excluded, r_obs, mc_events):
    row = dict.fromkeys(scan.POINT_COLUMNS)
    row.update(
        key=key,
        model="gluino_direct",
        status="done",
        seed=1,
        params=json.dumps({"m_gluino": m1, "m_lsp": m2}),
        best_analysis="MB",
        best_region="SR-4",
        cls_obs=0.001 if excluded else 0.5,
        cls_exp=0.2,
        r_obs=r_obs,
        r_cons=0.0,
        excluded=int(excluded),
    )
    regions = []
    for region, mc in (("SR-4", mc_events), ("SR-5", 500)):
        r = dict.fromkeys(scan.REGION_COLUMNS)
        r.update(point_key=key, analysis="MB", region=region, mc_events=mc, **{"yield": 3.0})
        regions.append(r)
    return {"point": row, "regions": regions}


POINTS = [
    ("gluino_direct:m_gluino=1400,m_lsp=0", 1400, 0, True, 16.1, 2),  # excluded on 2 MC events
    ("gluino_direct:m_gluino=1400,m_lsp=600", 1400, 600, True, 3.2, 40),
    ("gluino_direct:m_gluino=2000,m_lsp=0", 2000, 0, False, 0.4, 9),
]


def _fake_run_scan(points, *, output, **_):
    store = scan.ScanStore(
        Path(output) / "scan.sqlite", {"model": "gluino_direct", "parameters": ["m_gluino", "m_lsp"]}
    )
    for key, m1, m2, excluded, r_obs, mc in POINTS:
        store.commit(_point(key, m1, m2, excluded=excluded, r_obs=r_obs, mc_events=mc))
    store.close()
    return scan.ScanSummary(Path(output) / "scan.sqlite", len(points), len(POINTS), 0, 0, 0, 1.0)


@pytest.fixture
def scanned(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(scan, "run_scan", _fake_run_scan)
    grid = "m_gluino=1400,2000 m_lsp=0,600"
    args = ["scan", "--model", "gluino_direct", "--grid", grid, "-o", str(tmp_path / "s"), "--no-progress"]
    assert main(args) == 0
    return tmp_path / "s", capsys.readouterr().out


def test_the_report_flags_points_whose_best_sr_rests_on_few_mc_events(scanned):
    """An excluded point whose best SR had 2 MC events looked as solid as the others."""
    out, _ = scanned
    html = (out / "scan_report.html").read_text()
    rows = [r for r in html.split("<tr") if "<td>" in r]
    by_point = {r.split("<td>")[1].split("<")[0] + "," + r.split("<td>")[2].split("<")[0]: r for r in rows}
    text = "UNRELIABLE: its signal rests on {} MC event(s) (fewer than 10), generate more events"
    assert text.format(2) in by_point["1400,0"]
    assert text.format(9) in by_point["2000,0"]
    assert "UNRELIABLE" not in by_point["1400,600"]  # 40 MC events (another SR's 500 do not count)
    assert "2 point(s) UNRELIABLE" in html


def test_the_terminal_lists_each_point_with_its_verdict_and_flag(scanned):
    _, stdout = scanned
    assert "2 of the 3 points done are excluded at 95% CL" in stdout
    assert "2 UNRELIABLE (best SR on fewer than 10 MC events), 1 of them excluded" in stdout
    lines = {ln.split()[0]: ln for ln in stdout.splitlines() if ln.startswith("  gluino_direct:")}
    assert set(lines) == {p[0] for p in POINTS}
    first = lines["gluino_direct:m_gluino=1400,m_lsp=0"]
    assert "EXCLUDED" in first
    assert "MB: SR-4" in first
    assert "r_obs 16.1" in first
    assert "UNRELIABLE (2 MC events)" in first
    middle = lines["gluino_direct:m_gluino=1400,m_lsp=600"]
    assert "EXCLUDED" in middle
    assert "r_obs 3.2" in middle
    assert re.search(r"r_obs \d+\.\d{3}\b", middle)  # three decimals (1.0026 was printed "1")
    assert "UNRELIABLE" not in middle
    last = lines["gluino_direct:m_gluino=2000,m_lsp=0"]
    assert "not excluded" in last
    assert "UNRELIABLE (9 MC events)" in last


def test_a_large_scan_lists_only_the_first_points(tmp_path):
    from recast_ml.scan_outputs import summary_lines

    _fake_run_scan([], output=tmp_path)
    store = scan.ScanStore(tmp_path / "scan.sqlite")
    lines = summary_lines(store, limit=2)
    store.close()
    assert len(lines) == 4
    assert lines[-1] == "  ... and 1 more points (all in scan_report.html)"


def test_only_the_store_file_remains_and_it_resumes(scanned):
    """scan.sqlite-wal and scan.sqlite-shm were left beside the store (the efficiency-map export's
    read-only connection cannot remove them)."""
    out, _ = scanned
    assert not (out / "scan.sqlite-wal").exists()
    assert not (out / "scan.sqlite-shm").exists()
    store = scan.ScanStore(out / "scan.sqlite", {"model": "gluino_direct", "parameters": ["m_gluino", "m_lsp"]})
    assert {k: s for k, (s, _, _) in store.statuses().items()} == {p[0]: "done" for p in POINTS}
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # back in WAL mode while open
    store.close()
    conn = sqlite3.connect(out / "scan.sqlite")
    assert conn.execute("SELECT count(*) FROM regions").fetchone()[0] == 2 * len(POINTS)
    conn.close()


def test_a_different_scan_names_the_store_once(tmp_path):
    path = tmp_path / "scan1" / "scan.sqlite"
    scan.ScanStore(path, {"model": "a"}).close()
    with pytest.raises(ConfigError) as e:
        scan.ScanStore(path, {"model": "b"})
    assert str(e.value).count(str(path)) == 1
    assert str(e.value).startswith(f"{path}: holds a different scan (model: 'a' here, 'b' asked)")


def test_an_output_folder_whose_scan_sqlite_is_no_database_is_a_one_line_error(tmp_path, capsys):
    """-o to a folder whose scan.sqlite is another file was 'recast-ml: internal error: DatabaseError:
    file is not a database', exit 3; now one line naming the file, exit 2, and the file untouched."""
    out = tmp_path / "scan1"
    out.mkdir()
    (out / "scan.sqlite").write_text("my notes\n")
    grid = ["--model", "gluino_direct", "--grid", "m_gluino=1400 m_lsp=0", "--analysis", "ATLAS-SUSY-2018-22"]
    assert main(["scan", *grid, "-n", "5", "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(
        f"recast-ml: error: {(out / 'scan.sqlite').resolve()}: not a scan store (file is not a database)"
    )
    assert (out / "scan.sqlite").read_text() == "my notes\n"


def test_an_unknown_analysis_is_refused_before_the_workers(tmp_path, monkeypatch, capsys):
    """A misspelt --analysis started the cluster, failed every point on its worker, wrote a store,
    an empty report and contours, exit 1; now one line, exit 2 (as `run`), and no store made."""
    monkeypatch.setattr(scan, "_execute", _no_workers)
    out = tmp_path / "scan1"
    grid = ["--model", "gluino_direct", "--grid", "m_gluino=1400 m_lsp=0", "-n", "5", "-o", str(out)]
    assert main(["scan", *grid, "--analysis", "ATLAS-SUSY-2018-22,ATLAS-SUSY-2099-01", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("recast-ml: error: unknown analysis 'ATLAS-SUSY-2099-01': ")
    assert "ATLAS-SUSY-2018-22" in err  # among the bundled ones it names
    assert not out.exists()


@pytest.mark.parametrize(
    ("address", "exc", "message"),
    [
        ("nonsense", None, "missing port number in address 'nonsense'"),  # distributed's own error
        ("tcp://127.0.0.1:9", OSError("Timed out trying to connect to tcp://127.0.0.1:9 after 30 s"), "no Dask"),
    ],
)
def test_a_scheduler_that_cannot_be_reached_is_a_one_line_error(tmp_path, monkeypatch, capsys, address, exc, message):
    """--scheduler with an address distributed cannot parse was 'recast-ml: internal error: ValueError',
    exit 3; now, as one that does not answer, one line naming --scheduler, exit 2."""
    import distributed

    def client(addr, *a, **k):
        assert addr == address
        raise exc

    if exc is not None:  # a scheduler that does not answer: distributed's 30 s timeout, here at once
        monkeypatch.setattr(distributed, "Client", client)
    out = tmp_path / "scan1"
    args = ["scan", "--model", "gluino_direct", "--grid", "m_gluino=1400 m_lsp=0", "--analysis", "ATLAS-SUSY-2018-22"]
    assert main([*args, "-n", "5", "-o", str(out), "--scheduler", address, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"recast-ml: error: --scheduler {address}: ")
    assert message in err


def test_the_terminal_and_the_report_list_the_points_by_their_masses(tmp_path):
    """Both listed the points in the order of their key text: m_gluino=1100 before 900 and
    m_lsp=1000 before 200. Now by the masses as numbers, the first parameter first."""
    from recast_ml.scan_outputs import summary_lines, write_report

    store = scan.ScanStore(tmp_path / "scan.sqlite", {"model": "gluino_direct", "parameters": ["m_gluino", "m_lsp"]})
    masses = [(1100, 1000), (900, 200), (1100, 200), (1100, 0), (900, 0)]
    for m1, m2 in masses:
        key = f"gluino_direct:m_gluino={m1},m_lsp={m2}"
        store.commit(_point(key, m1, m2, excluded=True, r_obs=2.0, mc_events=40))
    lines = summary_lines(store)
    write_report(store, tmp_path)
    store.close()
    expected = [(900, 0), (900, 200), (1100, 0), (1100, 200), (1100, 1000)]
    listed = [ln.split()[0] for ln in lines if ln.startswith("  gluino_direct:")]
    assert listed == [f"gluino_direct:m_gluino={m1},m_lsp={m2}" for m1, m2 in expected]
    rows = [r for r in (tmp_path / "scan_report.html").read_text().split("<tr") if "<td>" in r]
    in_report = [tuple(int(float(c.split("<")[0])) for c in r.split("<td>")[1:3]) for r in rows]
    assert in_report == expected


@pytest.mark.parametrize(("excluded", "said"), [(True, "excluded (CLs_obs < 0.05)"), (False, "not excluded")])
def test_a_plane_whose_points_are_all_on_one_side_says_why_it_has_no_contour(tmp_path, caplog, excluded, said):
    """A 2x2 plane, all points excluded: empty contour files and a plot without lines, and nothing
    said why. Now one warning (the files and the plot both ask for the contours)."""
    import logging

    from recast_ml.scan_outputs import write_report

    store = scan.ScanStore(tmp_path / "scan.sqlite", {"model": "gluino_direct", "parameters": ["m_gluino", "m_lsp"]})
    for m1, m2 in [(1400, 0), (1400, 400), (1800, 0), (1800, 400)]:
        key = f"gluino_direct:m_gluino={m1},m_lsp={m2}"
        store.commit(_point(key, m1, m2, excluded=excluded, r_obs=2.0, mc_events=40))
    with caplog.at_level(logging.WARNING):
        write_report(store, tmp_path)
    store.close()
    said_lines = [r.getMessage() for r in caplog.records if "contour" in r.getMessage()]
    assert len(said_lines) == 1, said_lines
    assert said_lines[0].startswith(f"no observed contour: every point is {said}")
    assert "extend the grid" in said_lines[0]
    doc = json.loads((tmp_path / "contours.json").read_text())
    assert doc["contours"]["observed"] == []


def test_run_of_a_scan_point_with_a_zero_mass_says_to_give_1(tmp_path, capsys):
    """A scan point m_lsp=0 (generated at 1 GeV) re-run with `run --generate gluino_direct:1800,0`
    was refused with 'M_LSP must be a positive number of GeV, got 0.0' and no way forward."""
    out = tmp_path / "r"
    assert main(["run", "--analysis", "ATLAS-SUSY-2018-22", "--generate", "gluino_direct:1800,0", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("recast-ml: error: simplified model gluino_direct: M_LSP must be a positive number of GeV")
    assert "give 1" in err


def test_a_scan_whose_points_all_failed_says_none_is_done(tmp_path):
    """Every point failed (their errors are listed after the summary): the summary said "0 of the 0
    points done are excluded ...; 0 UNRELIABLE ..., 0 of them excluded"."""
    from recast_ml.scan_outputs import summary_lines

    store = scan.ScanStore(tmp_path / "scan.sqlite", {"model": "gluino_direct", "parameters": ["m_gluino", "m_lsp"]})
    failed = _point("gluino_direct:m_gluino=900,m_lsp=0", 900, 0, excluded=False, r_obs=None, mc_events=0)
    failed["point"].update(status="failed", error="RuntimeError: boom")
    store.commit({"point": failed["point"], "regions": []})
    assert summary_lines(store) == ["no point is done: nothing is excluded or allowed yet"]
    store.commit(_point("gluino_direct:m_gluino=1100,m_lsp=0", 1100, 0, excluded=True, r_obs=2.0, mc_events=40))
    assert summary_lines(store)[0].startswith("1 of the 1 points done are excluded at 95% CL")
    store.close()
