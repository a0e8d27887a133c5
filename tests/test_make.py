"""The front door for a new user: what `make run` says."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
@pytest.mark.parametrize("port", [None, "8001"])
def test_make_run_prints_the_full_sign_in_address(port):
    # FLASK=true stands in for every flask command (nothing is migrated or served) and
    # `-o install` skips the virtualenv step: what is left is what `make run` prints itself.
    args = [MAKE, "-s", "--no-print-directory", "-o", "install", "run", "FLASK=true"]
    if port:
        args.append(f"PORT={port}")
    env = {k: v for k, v in os.environ.items() if k not in {"PORT", "MAKEFLAGS", "MFLAGS"}}
    done = subprocess.run(  # noqa: S603 - make with our own arguments
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    expected = f"Staff sign-in: http://127.0.0.1:{port or 5000}/staff/login"
    assert expected in done.stdout.splitlines(), done.stdout
