"""Where the project keeps its runtime files (SQLite databases, development keys, photos)."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def var_dir() -> Path:
    """The `var/` folder: `MC_VAR_DIR` when set, else `var/` at the project root."""
    path = Path(os.environ.get("MC_VAR_DIR") or PROJECT_ROOT / "var")
    path.mkdir(parents=True, exist_ok=True)
    return path
