"""The README's two fresh-machine commands point at scripts that exist, and every Python module
those scripts run with ``-m`` imports (a renamed module once broke the first command)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _fresh_machine_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Fresh machine", 1)[1].split("\n## ", 1)[0]
    return [ln.strip() for ln in section.splitlines() if ln.startswith("    bash ")]


def test_the_two_commands_run_scripts_that_exist_and_modules_that_import() -> None:
    commands = _fresh_machine_commands()
    assert len(commands) == 2, commands
    scripts = {s for c in commands for s in re.findall(r"bash (\S+)", c)}
    assert scripts >= {"scripts/setup.sh", "scripts/test.sh"}, scripts
    modules = set()
    for script in scripts:
        path = ROOT / script
        assert path.is_file(), script
        modules |= set(re.findall(r"-m ([A-Za-z_][\w.]*)", path.read_text()))
    assert "sdk" in modules or any(m.startswith("sdk.") for m in modules), modules
    for mod in sorted(modules):
        if mod.split(".")[0] in ("sdk",):
            assert importlib.util.find_spec(mod) is not None, f"{mod} (run by a README command) is gone"
