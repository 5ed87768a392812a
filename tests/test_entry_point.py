"""The real entry point (`python -m vramcalc`, the console script): it skips interpreter teardown, so check that
nothing is lost — full output when piped, exit codes, errors on stderr, a reader that leaves early."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vramcalc", *args], capture_output=True, text=True, timeout=60)


def test_output_is_complete_and_the_exit_code_kept() -> None:
    ok = _run("formats", "--json")
    assert ok.returncode == 0 and len(json.loads(ok.stdout)["formats"]) > 100  # ~60 kB through a pipe, all of it
    bad = _run("estimate", "twelve")
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.startswith("Error: cannot read model 'twelve'")


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_reader_that_leaves_early_is_not_an_error(json_flag: list[str]) -> None:
    # `vramcalc formats | head -1`: a 4 kB pipe (smaller than the output) closed after one line
    import fcntl
    import os

    read_fd, write_fd = os.pipe()
    fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 4096)
    proc = subprocess.Popen([sys.executable, "-m", "vramcalc", "formats", *json_flag], stdout=write_fd,
                            stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "80"})
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        assert reader.readline()
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and "Traceback" not in err and "Error" not in err
