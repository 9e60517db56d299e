"""Runs fuzz cases, each in a forked child process, and classifies the outcome.

Outcomes (the table columns):

* ``ok``        accepted, and the input was not known to be invalid;
* ``typed``     refused with a typed error (recast_ml.RecastError, InputError, ConfigError,
                ModelError, FileNotFoundError) with a non-empty message;
* ``untyped``   any other exception (KeyError, TypeError, UnicodeDecodeError, bare ValueError or
                RuntimeError, MemoryError ...) or a typed error with an empty message;
* ``crash``     the child died from a signal (segfault, abort) or exited without a result;
* ``hang``      no result within the timeout (the child is killed);
* ``silent``    accepted although the input is known to be invalid, or accepted with a result
                the target's oracle knows is wrong (NaN momenta, NaN model outputs ...);
* ``rejected``  a valid seed refused (a harness or parser regression).

The parent imports recast_ml once and forks a child per case (``jobs`` children at a time); the
child writes the input to a file, runs the target under an address-space limit and reports back
through a pipe, so a crash or a hang is counted, never fatal.
"""

from __future__ import annotations

import json
import os
import re
import resource
import select
import signal
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cases import Case

OUTCOMES = ("ok", "typed", "untyped", "crash", "hang", "silent", "rejected")
FINDINGS = ("untyped", "crash", "hang", "silent", "rejected")
CORPUS = Path(__file__).parent / "corpus"
#: extra address space a child may take beyond the parent's (a 1e9-particle reservation must fail)
MEMORY_LIMIT = 3 << 30


@dataclass
class Result:
    case: Case
    outcome: str
    detail: str
    seconds: float

    @property
    def signature(self) -> str:
        """What identifies a finding across inputs: outcome + exception type + message shape."""
        detail = re.sub(r"/\S+/", "", self.detail)  # paths
        detail = re.sub(r"0x[0-9a-f]+|\d+(\.\d+)?(e[-+]?\d+)?", "N", detail)
        return f"{self.case.parser}:{self.outcome}:{detail[:90]}"


def _typed() -> tuple[type[BaseException], ...]:
    import recast_ml

    return (recast_ml.RecastError, recast_ml.InputError, recast_ml.ConfigError, recast_ml.ModelError,
            FileNotFoundError)  # fmt: skip


def _child(case: Case, workdir: Path, write_fd: int) -> None:
    """Runs in the forked child: never returns."""
    code = 0
    try:
        import warnings

        warnings.resetwarnings()
        warnings.simplefilter("ignore")
        try:
            _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            vm = int(Path("/proc/self/status").read_text().split("VmSize:")[1].split()[0]) * 1024
            resource.setrlimit(resource.RLIMIT_AS, (vm + MEMORY_LIMIT, hard))
        except (OSError, ValueError, IndexError):
            pass
        from .targets import Invalid, call

        path = workdir / f"input{case.ext}"
        path.write_bytes(case.data)
        try:
            detail = call(case.parser, str(path), case.options)
            outcome = "silent" if case.invalid else "ok"
        except Invalid as e:
            outcome, detail = "silent", str(e)
        except _typed() as e:
            message = str(e)
            outcome = "typed" if message.strip() else "untyped"
            detail = (
                f"{type(e).__name__}: {message}" if message.strip() else f"{type(e).__name__} with an empty message"
            )
            if outcome == "typed" and case.origin == "seed":
                outcome = "rejected"
        except BaseException as e:
            tb = traceback.extract_tb(e.__traceback__)
            where = f" [{Path(tb[-1].filename).name}:{tb[-1].lineno}]" if tb else ""
            outcome, detail = "untyped", f"{type(e).__name__}: {e}"[:300] + where
        os.write(write_fd, json.dumps({"outcome": outcome, "detail": detail[:400]}).encode())
    except BaseException:
        code = 3
    finally:
        os._exit(code)


@dataclass
class _Running:
    case: Case
    pid: int
    fd: int
    start: float
    workdir: Path
    buf: bytes = b""


def run_cases(cases: Iterable[Case], *, jobs: int = 2, timeout: float = 20.0, deadline: float | None = None,
              workroot: Path | None = None) -> Iterator[Result]:  # fmt: skip
    """Runs ``cases`` (``jobs`` children at a time) until exhausted or ``deadline`` (time.time())."""
    from .targets import warm

    warm()  # imports and shared inputs once, before forking

    tmp = tempfile.TemporaryDirectory(prefix="recast_fuzz_", dir=workroot)
    root = Path(tmp.name)
    it = iter(cases)
    running: dict[int, _Running] = {}
    counter = 0
    exhausted = False
    try:
        while running or not exhausted:
            while not exhausted and len(running) < jobs and (deadline is None or time.time() < deadline):
                case = next(it, None)
                if case is None:
                    exhausted = True
                    break
                counter += 1
                workdir = root / str(counter)
                workdir.mkdir()
                r, w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    os.close(r)
                    _child(case, workdir, w)
                os.close(w)
                running[r] = _Running(case, pid, r, time.time(), workdir)
            if deadline is not None and time.time() >= deadline:
                exhausted = True
            if not running:
                break
            now = time.time()
            wait = max(0.0, min(run.start + timeout - now for run in running.values()))
            ready, _, _ = select.select(list(running), [], [], min(wait, 1.0))
            for fd in ready:
                run = running[fd]
                chunk = os.read(fd, 65536)
                if chunk:
                    run.buf += chunk
                    continue
                del running[fd]
                yield _finish(run, hung=False)
            now = time.time()
            for fd in [fd for fd, run in running.items() if now - run.start > timeout]:
                run = running.pop(fd)
                os.kill(run.pid, signal.SIGKILL)
                yield _finish(run, hung=True)
    finally:
        for run in running.values():
            os.kill(run.pid, signal.SIGKILL)
            os.waitpid(run.pid, 0)
            os.close(run.fd)
        tmp.cleanup()


def _finish(run: _Running, *, hung: bool) -> Result:
    _, status = os.waitpid(run.pid, 0)
    os.close(run.fd)
    seconds = time.time() - run.start
    for f in run.workdir.iterdir():
        f.unlink()
    run.workdir.rmdir()
    if hung:
        return Result(run.case, "hang", f"no result after {seconds:.0f} s", seconds)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return Result(run.case, "crash", f"killed by {signal.Signals(sig).name}", seconds)
    try:
        doc = json.loads(run.buf.decode())
    except ValueError:
        return Result(run.case, "crash", f"exit status {os.WEXITSTATUS(status)} without a result", seconds)
    return Result(run.case, doc["outcome"], doc["detail"], seconds)


def run_one(case: Case, *, timeout: float = 20.0) -> Result:
    return next(run_cases([case], jobs=1, timeout=timeout))


# ---- minimisation and the corpus --------------------------------------------------------------------


def minimise(result: Result, *, budget: int = 40, timeout: float = 20.0) -> Case:
    """A smaller input with the same signature (line deletion, then halving the tail), for
    crashes and untyped exceptions; other findings are kept as they are (a cut file must stay a
    cut of its seed, and a hang costs the whole timeout per try)."""
    case = result.case
    if result.outcome not in ("crash", "untyped") or case.ext.endswith((".gz", ".onnx")) or case.parser in (
        "arrays", "table", "slha"):  # fmt: skip
        return case
    want = result.signature
    tries = 0

    def same(data: bytes) -> bool:
        nonlocal tries
        tries += 1
        trial = Case(case.parser, data, case.ext, case.invalid, case.origin, case.options, case.note)
        return run_one(trial, timeout=timeout).signature == want

    data = case.data
    chunk = max(1, len(data.splitlines()) // 2)
    while chunk >= 1 and tries < budget:
        lines = data.splitlines(keepends=True)
        changed = False
        i = 0
        while i < len(lines) and tries < budget:
            trial = b"".join(lines[:i] + lines[i + chunk :])
            if trial != data and same(trial):
                data, lines, changed = trial, trial.splitlines(keepends=True), True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    return Case(case.parser, data, case.ext, case.invalid, case.origin + " (minimised)", case.options, case.note)


def save(case: Case, result: Result, corpus: Path = CORPUS) -> Path:
    """Writes ``corpus/<parser>/<hash><ext>`` and its sidecar ``<hash><ext>.meta.json`` (parser,
    whether the input is known-invalid, the outcome found when it was saved)."""
    folder = corpus / case.parser
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{case.digest}{case.ext}"
    path.write_bytes(case.data)
    meta = {
        "parser": case.parser,
        "ext": case.ext,
        "invalid": case.invalid,
        "options": case.options,
        "origin": case.origin,
        "note": case.note,
        "expect": "typed error" if case.invalid else "ok or typed error",
        "found": {"outcome": result.outcome, "detail": result.detail},
    }
    path.with_name(path.name + ".meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return path


def load_corpus(corpus: Path = CORPUS) -> list[Case]:
    cases = []
    for meta_path in sorted(corpus.glob("*/*.meta.json")):
        meta = json.loads(meta_path.read_text())
        name = meta_path.name.removesuffix(".meta.json")
        data = meta_path.with_name(name).read_bytes()
        origin = "corpus:" + name
        cases.append(Case(meta["parser"], data, meta["ext"], meta["invalid"], origin, meta["options"], meta["note"]))
    return cases


# ---- the table -----------------------------------------------------------------------------------


def table(results: Iterable[Result], parsers: Iterable[str]) -> str:
    counts: dict[str, Counter[str]] = {p: Counter() for p in parsers}
    for r in results:
        counts.setdefault(r.case.parser, Counter())[r.outcome] += 1
    columns = ["ok", "typed errors", "untyped exceptions", "crashes", "hangs", "silently accepted", "valid rejected"]
    rows = ["| parser | cases | " + " | ".join(columns) + " |", "|" + "---|" * 9]
    total: Counter[str] = Counter()
    for parser, c in counts.items():
        total.update(c)
        rows.append(f"| {parser} | {sum(c.values())} | " + " | ".join(str(c[o]) for o in OUTCOMES) + " |")
    rows.append(f"| **all** | {sum(total.values())} | " + " | ".join(str(total[o]) for o in OUTCOMES) + " |")
    return "\n".join(rows) + "\n"


def describe(result: Result) -> str:
    c = result.case
    what = c.note or c.origin
    return f"{c.parser}/{c.digest}{c.ext} [{what}]: {result.outcome}: {result.detail}"


def outcome_is_acceptable(result: Result) -> bool:
    return result.outcome in ("ok", "typed")


def as_dict(result: Result) -> dict[str, Any]:
    return {"parser": result.case.parser, "outcome": result.outcome, "detail": result.detail,
            "origin": result.case.origin, "note": result.case.note}  # fmt: skip
