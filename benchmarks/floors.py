"""Print pip constraints pinning every dependency of pyproject.toml to its floor.

``make test-min`` installs with them, so the tests run against the lowest versions we claim
to support (``numpy>=2.0`` becomes ``numpy==2.0``).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path


def floors(pyproject: Path) -> list[str]:
    """``name==floor`` for each ``name>=floor`` in the core dependencies, test and excel extras.

    Parameters
    ----------
    pyproject : Path
        The project's ``pyproject.toml``.

    Returns
    -------
    list of str
        Constraint lines, in the file's order.
    """
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    specs = [*project["dependencies"], *extras["test"], *extras["excel"]]
    out = []
    for spec in specs:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?>=([^,;\s]+)", spec.strip())
        if match:
            out.append(f"{match.group(1)}=={match.group(2)}")
    return out


if __name__ == "__main__":
    print("\n".join(floors(Path(__file__).resolve().parents[1] / "pyproject.toml")))
