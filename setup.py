"""The package list, the one part of the build configuration that is computed.

Everything else is in pyproject.toml. The code packages are discovered, so modules and
subpackages of leadform can move freely. The top-level folders that pyproject.toml maps into
the package ([tool.setuptools.package-dir]: templates/, static/, migrations/) are invisible
to that discovery, so they are listed here, with their subfolders (setuptools warns about a
subfolder of package data that is not in the list).
"""

import tomllib
from pathlib import Path

from setuptools import find_namespace_packages, find_packages, setup

HERE = Path(__file__).resolve().parent
PYPROJECT = tomllib.loads((HERE / "pyproject.toml").read_text("utf-8"))
MAPPED: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]


def mapped_packages() -> list[str]:
    """Each mapped folder as a package, and its subfolders as namespace packages."""
    packages = []
    for package, folder in MAPPED.items():
        inside = find_namespace_packages(HERE / folder, exclude=["__pycache__", "*.__pycache__"])
        packages += [package, *(f"{package}.{sub}" for sub in inside)]
    return packages


setup(packages=[*find_packages(include=["leadform", "leadform.*"]), *mapped_packages()])
