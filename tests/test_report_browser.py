"""Both HTML reports (``recast-ml run`` and ``recast-ml validate``) rendered in headless Chromium
(Debian package ``chromium``, installed by scripts/bootstrap.sh for the tests): the verdict is in
the rendered page and every image loads (``naturalWidth > 0``; the run report's plots are inline
SVG, laid out with a size), with no scripts and no network.

The browser is driven through the Chrome DevTools protocol over ``--remote-debugging-pipe``
(fds 3/4, NUL-separated JSON; pure standard library): the page is navigated, its load event
awaited, and the DOM inspected with ``Runtime.evaluate``; nothing is injected into the report."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from recast_ml.cli import main

TIMEOUT = 120.0


def chromium_executable() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe:
        return exe
    bootstrapped = (Path(sys.prefix) / ".recast-deps").is_file()
    if bootstrapped or os.environ.get("CI"):
        pytest.fail("chromium is not installed: run scripts/bootstrap.sh (it installs the Debian package chromium)")
    pytest.skip("chromium is not installed and scripts/bootstrap.sh was not run (it installs it)")


class Browser:
    """Headless Chromium with the DevTools protocol on a pipe."""

    def __init__(self, exe: str, profile: Path) -> None:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def fds() -> None:  # in the child: its fd 3 reads commands, fd 4 writes replies
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [exe, "--headless", "--disable-gpu", "--no-sandbox", "--remote-debugging-pipe", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--no-default-browser-check", f"--user-data-dir={profile}", "about:blank"]  # fmt: skip
        self.proc = subprocess.Popen(
            args, pass_fds=(3, 4), preexec_fn=fds, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_child], [], [], left)[0]:
                raise TimeoutError("no reply from chromium")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium closed the pipe (exit code {self.proc.poll()})")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return dict(json.loads(msg))

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while True:
            for k, ev in enumerate(self.events):
                if ev.get("method") == method and ev.get("sessionId") == session:
                    return self.events.pop(k)
            self.events.append(self._read_message(deadline))

    def inspect(self, path: Path) -> dict[str, Any]:
        """Loads ``path`` in a new tab and returns what the rendered page holds."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=session)
        nav = self.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        assert "errorText" not in nav, nav
        self.wait_event("Page.loadEventFired", session)
        expression = """({
            ready: document.readyState,
            verdict: (document.querySelector('.verdict') || {}).innerText || null,
            text: document.body.innerText,
            scripts: document.scripts.length,
            images: [...document.images].map(i => ({src: i.currentSrc.slice(0, 40), complete: i.complete,
                                                  width: i.naturalWidth, height: i.naturalHeight})),
            details: [...document.querySelectorAll('details')].map(d => d.open),
            svgs: [...document.querySelectorAll('svg')].map(s => ({width: s.getBoundingClientRect().width,
                                                                 height: s.getBoundingClientRect().height,
                                                                 texts: s.querySelectorAll('text').length})),
        })"""
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session)
        self.send("Target.closeTarget", {"targetId": target})
        return dict(res["result"]["value"])

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(chromium_executable(), tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def check_static(page: Path) -> str:
    """Works offline and without scripts: no <script>, every image a data: URI or a file beside it."""
    text = page.read_text()
    assert "<script" not in text.lower()
    for src in re.findall(r"<img[^>]*\ssrc='([^']*)'", text):
        assert src.startswith("data:image/png;base64,") or (page.parent / src).is_file(), src[:60]
    assert not re.search(r"(src|href)=['\"]https?:", text)
    assert "<pre" not in text
    return text


def check_images(dom: dict[str, Any], html: str) -> None:
    assert len(dom["images"]) == html.count("<img ") > 0
    for img in dom["images"]:
        assert img["complete"], img
        assert img["width"] > 0, img
        assert img["height"] > 0, img


def check_svgs(dom: dict[str, Any], html: str) -> None:
    """Inline SVG plots (the run report): each laid out with a size and drawn text."""
    assert len(dom["svgs"]) == html.count("<svg ") > 0
    for svg in dom["svgs"]:
        assert svg["width"] > 100, svg
        assert svg["height"] > 100, svg
        assert svg["texts"] > 5, svg


def test_run_report_in_chromium(browser, tmp_path, hepmc_files, capsys):
    from recast_ml.report import verdict_text

    out = tmp_path / "run"
    args = ["run", "--analysis", "ATLAS-SUSY-2018-22,ATLAS-SUSY-2019-04", "--events", str(hepmc_files["hepmc3"])]
    assert main([*args, "--cross-section", "830", "-o", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    summary = json.loads((out / "results.json").read_text())
    page = out / "report.html"
    html = check_static(page)
    dom = browser.inspect(page)
    assert dom["ready"] == "complete"
    assert dom["scripts"] == 0
    verdict = verdict_text(summary)
    assert verdict.endswith("EXCLUDED at 95 % CL")
    assert dom["verdict"].strip() == verdict
    assert dom["text"].index(verdict) < dom["text"].index("Inputs")  # the headline comes first
    # the deciding analysis and SR, r-values, σ and its source, events, luminosity are in the box
    decided = [d for d in summary["analyses"] if d["statistics"].get("best")]
    best_doc = max(decided, key=lambda d: d["statistics"]["best"]["r_exp"] or 0)
    best = best_doc["statistics"]["best"]
    assert f"Decided by {best_doc['analysis']['id']}, signal region {best['region']}" in dom["text"]
    assert "830 pb" in dom["text"]
    assert "--cross-section" in dom["text"]
    assert "Events: 12 (MC)" in dom["text"]
    assert "139 fb⁻¹" in dom["text"]
    # 12 events: the best SR rests on fewer than 10 MC events (none here), and the page says so
    assert best["mc_events"] < 10
    if best["mc_events"] == 0:
        assert "Warning: no MC event passes any signal region with published numbers" in dom["text"]
    else:
        assert "Warning: this verdict rests on few MC events" in dom["text"]
    assert not dom["images"]  # the plots are inline SVG, drawn without matplotlib
    check_svgs(dom, html)
    assert dom["details"]
    assert not any(dom["details"])  # cutflows collapsed


def test_validate_report_in_chromium(browser, tmp_path):
    """A fresh small validation report (the golden events of ATLAS-SUSY-2018-22 as a benchmark's
    sample, compared with the published cutflows) and the committed full one."""
    import golden
    from recast_ml.analysis import load_yaml
    from recast_ml.validate import ValidationReport, _compare, validation_verdict, write_report
    from test_golden_susy_2018_22 import EVENTS

    ana = golden.compile("ATLAS-SUSY-2018-22")
    res = ana.run_table(golden.reco_table(EVENTS * 4), cross_section=0.0284)
    cfg = load_yaml(ana.definition.directory / "validation.yaml")
    report = ValidationReport(analysis=ana.id, events_per_benchmark=20, results={"gluino_2200_600": res})
    bench = {"model": "gluino_direct", "masses": [2200.0, 600.0], "cross_section_pb": 0.0284}
    report.benchmarks = {"gluino_2200_600": {**bench, "pythia_lo_cross_section_pb": 0.01}}
    report.comparisons = _compare(cfg, ana.definition.directory, report.results, report.unavailable)
    page = write_report(report, tmp_path / "validate", [str(d) for d in cfg["distributions"]])
    html = check_static(page)
    dom = browser.inspect(page)
    summary = json.loads((tmp_path / "validate" / "summary.json").read_text())
    verdict = validation_verdict(summary)
    assert verdict.startswith(f"VALIDATION: {summary['cutflow']['passed']} of 25 cutflow steps within tolerance")
    assert dom["verdict"].strip() == verdict
    check_images(dom, html)
    assert len(dom["images"]) == 1 + len(cfg["distributions"])  # the ratio plot and the distributions
    assert "meff [GeV]" not in dom["text"]  # axis labels are inside the images, not text
    # the committed full report of the repository renders too (its images are files beside it)
    committed = Path(__file__).parents[1] / "validation" / "ATLAS-SUSY-2018-22" / "report.html"
    dom = browser.inspect(committed)
    check_images(dom, check_static(committed))
