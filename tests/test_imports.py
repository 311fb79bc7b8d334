"""The import direction of the package, read from the source with `ast` (imports inside functions count too).

    models/       imports nothing from train/, pipeline/, serve/ or commands/
    data/, world/ do not import each other
    torch.distributed is imported only in parallel/ and train/
    config.py     imports no recipe
    media.py      imports nothing from patchflow but config
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "patchflow"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_statements(path: Path, root: Path) -> list[tuple[int, list[str]]]:
    """(line, the modules or names it imports) of every import statement in `path`, relative ones made absolute:
    `import a.b` gives a.b; `from a import b, c` gives a.b and a.c (b may be a module or a name in a)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.append((node.lineno, [alias.name for alias in node.names]))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # from ..x import y: resolved against this module's package
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - (node.level - 1)], *([base] if base else [])])
            found.append((node.lineno, [f"{base}.{alias.name}" for alias in node.names]))
    return found


def within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def broken_rules(name: str, imported: str) -> list[str]:
    """The rules of the module docstring that module `name` breaks by importing `imported`."""
    rules = [
        (within(name, "patchflow.models")
         and within(imported, "patchflow.train", "patchflow.pipeline", "patchflow.serve", "patchflow.commands"),
         "models/ must not import train/, pipeline/, serve/ or commands/"),
        (within(name, "patchflow.data") and within(imported, "patchflow.world"), "data/ must not import world/"),
        (within(name, "patchflow.world") and within(imported, "patchflow.data"), "world/ must not import data/"),
        (within(imported, "torch.distributed") and not within(name, "patchflow.parallel", "patchflow.train"),
         "only parallel/ and train/ may import torch.distributed"),
        (name == "patchflow.config" and within(imported, "patchflow.recipes", "recipes"),
         "config.py must import no recipe"),
        (name == "patchflow.media" and within(imported, "patchflow") and not within(imported, "patchflow.config"),
         "media.py may import only patchflow.config from patchflow"),
    ]
    return [why for broken, why in rules if broken]


def violations(root: Path) -> list[str]:
    """One line per import statement and rule it breaks."""
    found = []
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        for line, imported in import_statements(path, root):
            why = {rule for module in imported for rule in broken_rules(name, module)}
            found += [f"{path.relative_to(root.parent)}:{line}: {', '.join(imported)} ({rule})" for rule in sorted(why)]
    return found


def test_the_package_keeps_its_import_direction():
    assert violations(PACKAGE) == []


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("models/dit/bad.py", "def f():\n    from patchflow.train.trainer import Trainer\n", "models/ must not import"),
    ("models/bad.py", "from ..pipeline import Pipeline\n", "models/ must not import"),
    ("data/bad.py", "import patchflow.world.make\n", "data/ must not import world/"),
    ("world/bad.py", "from patchflow.data import manifest\n", "world/ must not import data/"),
    ("eval/bad.py", "def f():\n    import torch.distributed as dist\n", "torch.distributed"),
    ("eval/bad2.py", "from torch import distributed\n", "torch.distributed"),
    ("config.py", "def resolve():\n    from patchflow.recipes import get_recipe\n", "config.py must import no recipe"),
    ("media.py", "from patchflow.world.render import render_scene\n", "media.py may import only"),
])
def test_a_planted_import_against_the_direction_is_caught(tmp_path, module, source, expected):
    root = tmp_path / "patchflow"
    (root / module).parent.mkdir(parents=True, exist_ok=True)
    (root / module).write_text(source)
    (root / "media.py").touch(exist_ok=True)
    (root / "train").mkdir(exist_ok=True)
    (root / "train" / "fine.py").write_text("import torch.distributed as dist\nfrom patchflow.models import dit\n")
    found = violations(root)
    assert len(found) == 1 and expected in found[0], found
