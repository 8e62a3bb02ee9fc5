"""Data files that ship inside installed packages (the bundled demo sets, the offline text model),
found in the package's folder without importing the package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["package_file"]


def package_file(package: str, *parts: str) -> Path | None:
    """``<folder of package>/<parts...>`` if the top-level ``package`` is installed and holds that
    file, else ``None``. The package is located (``importlib.util.find_spec``), never imported."""
    spec = importlib.util.find_spec(package)
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(root).joinpath(*parts)
        if path.exists():
            return path
    return None
