"""The wheel stands alone: installed away from the checkout it migrates, loads the catalog
and serves its pages and static files (`pip install .` then `gunicorn 'leadform:create_app()'`).

Deselect with `-m 'not packaging'`. The fresh virtualenv borrows the dependencies already
installed for the tests (a .pth line naming this interpreter's site-packages: no download),
but not LeadForm itself: a .pth line only adds a folder to sys.path, it does not run the
folder's own .pth files, so the editable install's import hook stays out. The test checks
that anyway, before anything else.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
#: Top-level folders of the checkout that the wheel carries inside the package.
MAPPED = ("templates", "static", "migrations")
JUNK = ("__pycache__", "*.pyc", ".git", "build", "dist", "*.egg-info", "instance")
JUNK += (".pytest_cache", ".ruff_cache", ".hypothesis")


def run(command: list[str | Path], **kwargs: object) -> str:
    """Run a command, failing the test with its output if it fails; return its stdout."""
    done = subprocess.run(  # noqa: S603 - our own interpreters and arguments
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, command))} exited {done.returncode}:\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}",
            pytrace=False,
        )
    return done.stdout


def _ignore(folder: str, names: list[str]) -> set[str]:
    """Build junk, and any virtualenv (whatever its name), stay out of the copy."""
    ignored = shutil.ignore_patterns(*JUNK)(folder, names)
    return ignored | {name for name in names if (Path(folder, name, "pyvenv.cfg")).exists()}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the checkout: a stale build/ there cannot leak in."""
    source = tmp_path_factory.mktemp("source") / "leadform"
    shutil.copytree(ROOT, source, ignore=_ignore)
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run([*pip, "wheel", "--no-deps", "--no-cache-dir", "--quiet", "--wheel-dir", out, source])
    (built,) = out.glob("leadform-*.whl")
    return built


@pytest.fixture(scope="module")
def site(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """An empty folder with a fresh virtualenv holding the wheel, and the environment to use."""
    home = tmp_path_factory.mktemp("site")
    venv = home / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    purelib = Path(
        run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).strip()
    )
    ours = dict.fromkeys(sysconfig.get_path(name) for name in ("purelib", "platlib"))
    (purelib / "leadform-test-dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LEADFORM_", "FLASK_", "PYTHON", "VIRTUAL_ENV"))
    }
    env |= {
        "HOME": str(home),  # gunicorn puts its control socket under ~/.gunicorn
        "LEADFORM_ENV": "production",
        "LEADFORM_SECRET_KEY": secrets.token_urlsafe(48),
        "LEADFORM_DATABASE_URL": f"sqlite:///{home / 'leadform.db'}",
    }
    # pip comes from the borrowed site-packages but installs into the new environment.
    pip = [python, "-m", "pip", "--disable-pip-version-check"]
    run([*pip, "install", "--no-deps", "--no-index", "--no-cache-dir", "--quiet", wheel], env=env)
    return {"home": home, "venv": venv, "python": python, "env": env}


def test_wheel_carries_the_package_and_its_folders(wheel: Path) -> None:
    """Every file of leadform/ and of the mapped top-level folders, and nothing beside them."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = set()
    for top, inside in [("leadform", "leadform"), *((m, f"leadform/{m}") for m in MAPPED)]:
        for path in (ROOT / top).rglob("*"):
            parts = path.relative_to(ROOT / top).parts
            if path.is_dir() or path.suffix == ".pyc" or "__pycache__" in parts:
                continue
            if not any(part.startswith(".") for part in parts):
                expected.add(f"{inside}/{'/'.join(parts)}")
    missing = sorted(expected - names)
    assert not missing, (
        "not in the wheel (a subpackage needs an __init__.py to be found by setup.py, a new "
        f"kind of data file a pattern in [tool.setuptools.package-data]): {missing}"
    )
    assert {"leadform/templates/base.html", "leadform/migrations/env.py"} <= names
    assert "leadform/data/catalog.json" in names
    outside = sorted(n for n in names if not n.startswith(("leadform/", "leadform-")))
    assert not outside, f"the wheel installs more than the leadform package: {outside}"


PROBE = """
import json, sys
import leadform
from leadform import create_app
from leadform.cli.migrate import MIGRATIONS
app = create_app()
print(json.dumps({
    "module": leadform.__file__,
    "templates": str(app.template_folder),
    "static": app.static_folder,
    "migrations": str(MIGRATIONS),
    "path": sys.path,
    "finders": [repr(finder) for finder in sys.meta_path],
}))
"""


def test_installed_app_runs_without_the_checkout(site: dict[str, object]) -> None:
    """Migrate, load the catalog and serve pages and static files from the fresh venv."""
    home, venv, python = Path(site["home"]), Path(site["venv"]), Path(site["python"])
    env: dict[str, str] = site["env"]  # type: ignore[assignment]
    workdir = home / "work"
    workdir.mkdir()

    # The package and everything it reads come from the new virtualenv, not the checkout.
    probe = json.loads(run([python, "-c", PROBE], cwd=workdir, env=env))
    package = venv.resolve()
    for key in ("module", "templates", "static", "migrations"):
        assert Path(probe[key]).resolve().is_relative_to(package), (key, probe[key])
    assert not any((workdir / p).resolve() == ROOT for p in probe["path"]), probe["path"]
    assert not any("__editable__" in finder for finder in probe["finders"]), probe["finders"]

    flask = [python, "-m", "flask", "--app", "leadform"]
    run([*flask, "db", "upgrade"], cwd=workdir, env=env)
    loaded = run([*flask, "programs", "load"], cwd=workdir, env=env)
    assert re.search(r"programs: [1-9]\d* created", loaded), loaded
    assert (home / "leadform.db").exists()

    with gunicorn(python, workdir, env) as base:
        status, page = get(f"{base}/")
        assert status == 200
        assert get(f"{base}/request-info")[0] == 200
        stylesheets = re.findall(r'<link rel="stylesheet" href="(/static/[^"?]+)"', page)
        assert "/static/css/app.css" in stylesheets, stylesheets
        for href in stylesheets:
            status, body = get(f"{base}{href}")
            assert status == 200, href
            assert body == (ROOT / href.lstrip("/")).read_text("utf-8"), href


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    """GET a URL: status and text, also for an error status."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our server
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode("utf-8", "replace")


@contextlib.contextmanager
def gunicorn(python: Path, cwd: Path, env: dict[str, str]) -> Iterator[str]:
    """`gunicorn 'leadform:create_app()'` on a free port for the block; yield its base URL."""
    port = free_port()
    command = [python, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}"]
    base = f"http://127.0.0.1:{port}"
    log_path = cwd / "gunicorn.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [*command, "leadform:create_app()"],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while get_ready(base) is False:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = log_path.read_text("utf-8", "replace")[-3000:]
                    pytest.fail(f"gunicorn did not become ready:\n{output}", pytrace=False)
                time.sleep(0.2)
            yield base
        finally:
            # Only the gunicorn master started here; it stops its own worker.
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def get_ready(base: str) -> bool:
    """Whether the app answers /readyz with 200 (False while nobody listens yet)."""
    try:
        return get(f"{base}/readyz")[0] == 200
    except OSError:
        return False
