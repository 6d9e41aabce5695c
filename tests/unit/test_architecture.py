"""The import contracts of ``make lint`` (import-linter, pyproject.toml) hold, and would catch a breach."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_services_keep_their_import_contracts() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_import_from_one_service_into_another_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "services", tmp_path / "services", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "services" / "drift" / "shortcut.py").write_text("from services.healer import policy\n")
    (tmp_path / "services" / "common" / "shortcut.py").write_text("import services.trainer.fitting\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "services.drift.shortcut -> services.healer.policy" in result.stdout, result.stdout
    assert "services.common.shortcut -> services.trainer.fitting" in result.stdout, result.stdout
    assert "0 kept, 2 broken" in result.stdout
