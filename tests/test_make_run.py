"""`make run` runs an outbox worker beside the server and stops it when the server stops.

The Makefile's recipe runs for real (make, sh, its traps); the flask commands are replaced
by a stand-in that records what it was asked to do, so the test needs no port or database.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

STAND_IN = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    out = Path(os.environ["STAND_IN_DIR"])
    command = " ".join(sys.argv[1:])
    if command == "outbox work":
        def stop(signum, frame):
            (out / "worker.stopped").write_text(str(signum))
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        (out / "worker.env").write_text(os.environ.get("LEADFORM_NOTIFY_EMAILS", ""))
        (out / "worker.pid").write_text(str(os.getpid()))
        while True:
            time.sleep(0.05)
    elif command.startswith("run "):
        (out / "server.pid").write_text(str(os.getpid()))
        time.sleep(60)  # until Ctrl-C
    """
)


MAKE = shutil.which("make") or "make"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waiting for its parent counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def wait_for(path: Path, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_starts_a_worker_and_ctrl_c_stops_it_with_the_server(tmp_path):
    stand_in = tmp_path / "flask_stand_in.py"
    stand_in.write_text(STAND_IN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFORM_")}
    env["STAND_IN_DIR"] = str(tmp_path)

    def terminal() -> None:  # as a shell in a terminal starts it: its own group, Ctrl-C live
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    make = subprocess.Popen(  # noqa: S603 - our own command line, no shell
        [
            MAKE,
            "--no-print-directory",
            "-o",
            "migrate",
            "run",
            f"FLASK={sys.executable} {stand_in}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=terminal,  # noqa: PLW1509 - no threads of ours are running here
    )
    try:
        wait_for(tmp_path / "worker.pid")
        wait_for(tmp_path / "server.pid")
        worker = int((tmp_path / "worker.pid").read_text())
        assert alive(worker)
        # Alerts have somebody to go to under make run: the demo admin.
        assert (tmp_path / "worker.env").read_text() == "admin@example.com"

        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C in the terminal
        output, _ = make.communicate(timeout=30)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    assert (tmp_path / "worker.stopped").exists(), output.decode()
    deadline = time.monotonic() + 10
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(worker), "the worker outlived the server"
    assert b"Outbox worker" in output
