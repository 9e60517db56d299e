"""Input edge cases a new-user trial found: errors of compressed and piped event input that name the
event and say what is wrong (no internal file descriptor, no raw bytes of a ROOT file), a copy of an
event file given as a second part of the sample, and `run`'s --process/--slha options."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recast_ml import read_events, slha
from recast_ml.cli import main
from recast_ml.errors import ConfigError, InputError
from recast_ml.run import _event_files


def _run(tmp_path: Path, *args: str) -> list[str]:
    return ["run", "--analysis", "ATLAS-SUSY-2018-22", *args, "-o", str(tmp_path / "out"), "--no-progress"]


# ---- 1. compressed and piped input ----------------------------------------------------------------------


@pytest.mark.parametrize("threads", [1, 2])
def test_a_truncated_gzip_file_names_the_event(tmp_path, hepmc_files, threads):
    """Other reader errors say "(event N)"; the corrupt/truncated stream error did not. The
    reference: what Python's zlib decompresses of the cut stream (lines before, events started)."""
    import zlib

    data = gzip.compress(hepmc_files["hepmc3"].read_bytes())
    cut = data[: len(data) * 3 // 5]
    path = tmp_path / "truncgz.hepmc3.gz"
    path.write_bytes(cut)
    partial = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(cut)
    event = sum(1 for line in partial.split(b"\n")[:-1] if line.startswith(b"E ")) - 1
    assert event >= 1
    line = partial.count(b"\n") + 1
    with pytest.raises(InputError) as err:
        read_events(path, threads=threads)
    assert str(err.value) == (
        f"{path}:{line} (event {event}): compressed stream is corrupt or truncated: unexpected end of file"
    )


def _read_stdin(data: bytes) -> str:
    code = (
        "from recast_ml import read_events\ntry:\n read_events('-')\nexcept Exception as e: print(type(e).__name__, e)"
    )
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, check=True)
    return out.stdout.decode().strip()


def test_corrupt_gzip_on_standard_input_says_so(tmp_path, hepmc_files):
    """It said "read error: <fd:6>: unknown compression method" (zlib's name of a file descriptor)."""
    data = bytearray(gzip.compress(hepmc_files["hepmc3"].read_bytes()))
    data[2] = 7  # the compression method: only 8 (deflate) exists
    assert _read_stdin(bytes(data)) == (
        "InputError <stdin>:1: standard input is not valid gzip data: unknown compression method"
    )
    path = tmp_path / "bad.hepmc3.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as err:
        read_events(path)
    assert str(err.value) == f"{path}:1: the file is not valid gzip data: unknown compression method"


#: the start of a ROOT file: the magic "root" and the binary file-format version (as Delphes writes it)
ROOT_START = b"root\x00\x00\xf2\x36\x00\x00\x00\x64" + bytes(range(200)) + b"\n"


def test_a_root_file_on_standard_input_is_named(tmp_path):
    """It printed the file's raw bytes ("unexpected first line 'root\\x00\\x00\\xf26...'")."""
    assert _read_stdin(ROOT_START) == (
        "InputError <stdin>:1: a ROOT file cannot be read from standard input; give its path with --events FILE"
    )
    cmd = [sys.executable, "-m", "recast_ml", "run", "--analysis", "ATLAS-SUSY-2019-04", "--events", "-"]
    proc = subprocess.run(
        [*cmd, "--cross-section", "1pb", "-o", str(tmp_path / "o"), "--no-progress"],
        input=ROOT_START,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.decode() == (
        "recast-ml: error: <stdin>:1: a ROOT file cannot be read from standard input; give its path with "
        "--events FILE\n"
    )


# ---- 2. a copy of a part of the sample under another name ------------------------------------------------


def test_a_copy_of_an_event_file_is_refused_naming_both(tmp_path, capsys, hepmc_files):
    """b is a byte-identical copy of a: read as two parts it would double the sample (twice the
    events, MC errors too small) without a word."""
    a = hepmc_files["hepmc3.gz"]
    b = tmp_path / "copy.hepmc3.gz"
    shutil.copyfile(a, b)
    assert main(_run(tmp_path, "--events", str(a), str(b), "--cross-section", "1")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err == (
        f"recast-ml: error: --events: {b} has the same content as {a} (a copy: its events would be counted "
        "twice); each part of the sample must be given once\n"
    )
    assert not (tmp_path / "out" / "results.json").exists()


def test_large_files_are_compared_by_their_ends_and_different_files_pass(tmp_path, hepmc_files):
    """Files above 2 MiB: compared by the SHA-256 of their first and last MiB. Different parts of
    the same size (and different content) are accepted."""
    head = b"x" * (1 << 20)
    a, b, c = tmp_path / "a.hepmc3", tmp_path / "b.hepmc3", tmp_path / "c.hepmc3"
    a.write_bytes(head + b"middle-a" + head + b"end-1")
    b.write_bytes(head + b"middle-a" + head + b"end-2")  # same size, another last byte
    c.write_bytes(a.read_bytes())
    assert _event_files([a, b]) == [a, b]
    with pytest.raises(ConfigError, match=rf"{c} has the same content as {a}"):
        _event_files([a, b, c])
    # the plain and the gzip file of the same events are different files (and sizes)
    files = [hepmc_files["hepmc3"], hepmc_files["hepmc3.gz"]]
    assert _event_files(files) == files


# ---- 3. run's --process and --slha ------------------------------------------------------------------------


def test_process_with_generate_is_refused(tmp_path, capsys):
    """--process gluino beside --generate was silently ignored (the model has its own process)."""
    args = _run(tmp_path, "--generate", "gluino_direct:1400,1000", "--process", "squark", "-n", "5")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == (
        "recast-ml: error: --process squark: --process goes with --slha (--generate's model has its own process)\n"
    )


def test_run_help_lists_the_processes_the_code_accepts(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--process PROCESS with --slha: " + ", ".join(slha.PROCESSES) + " " in text
    assert {"slepton_emu", "chargino_pair", "chargino_pair_wlep"} <= set(slha.PROCESSES)


@pytest.mark.parametrize(("flavour", "why"), [("hepmc3.gz", "gzip-compressed data"), ("hepmc3", "no BLOCK or DECAY")])
def test_an_event_file_given_as_slha_is_not_an_slha_file(tmp_path, capsys, hepmc_files, flavour, why):
    """It said "no XSECTION block for process gluino" (and with --cross-section it went on to the
    MASS-block check): the file is not an SLHA file at all."""
    path = hepmc_files[flavour]
    assert main(_run(tmp_path, "--slha", str(path), "--process", "gluino", "-n", "5")) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"recast-ml: error: {path}: not an SLHA file: {why}")
    assert err.count("\n") == 1
    with pytest.raises(Exception, match=f"{path}: not an SLHA file"):
        slha.read_slha(path)
