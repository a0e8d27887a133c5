"""Where the app's templates, static files and migrations are, installed or in a checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource_folder(name: str) -> Path:
    """The folder `name` (templates, static, migrations) that comes with the package.

    An installed wheel has it inside the package, as leadform/<name> (pyproject.toml maps
    the top-level folder into the package); a checkout, editable install or not, keeps it
    at the top level, next to the package folder.
    """
    package = Path(str(resources.files("leadform")))
    for folder in (package / name, package.parent / name):
        if folder.is_dir():
            return folder
    raise FileNotFoundError(
        f"LeadForm's {name} folder is missing: neither {package / name} nor "
        f"{package.parent / name} exists (a wheel built without its package data?)"
    )
