"""The rules of the code base that a tool checks: the import contracts of pyproject.toml
([tool.importlinter]: what may import what, no cycles) and ruff's lint rules ([tool.ruff])."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run_tool(name: str, *args: str) -> subprocess.CompletedProcess:
    exe = BIN / name
    if not exe.is_file():
        pytest.fail(f"{exe} is missing: pip install -e '.[dev]'")
    # this checkout's mtts, also when another one is installed in the environment
    path = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.run([str(exe), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_import_contracts_are_kept():
    res = run_tool("lint-imports", "--no-cache")
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_finds_nothing():
    res = run_tool("ruff", "check", "--no-cache", "mtts", "tests", "benchmarks")
    assert res.returncode == 0, res.stdout + res.stderr
