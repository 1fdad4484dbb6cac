"""The house rules of the hexagon, checked on every run."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_layers_point_inward_as_the_import_linter_contracts_say() -> None:
    """Run as its own process: import-linter reconfigures logging, which would mute other tests' loggers."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_domain_imports_only_the_standard_library() -> None:
    foreign = []
    for path in sorted((ROOT / "domain").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            top_levels = {module.partition(".")[0] for module in modules}
            foreign += [
                f"{path.relative_to(ROOT)}: {name}"
                for name in top_levels
                if name not in sys.stdlib_module_names and name != "domain"
            ]

    assert foreign == []
