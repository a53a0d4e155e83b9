"""The packages' layering, read from the source: the device package imports
neither the uploader nor the server, the uploader does not import the server,
and every error class derives from its package's root exception."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import kiosk
import sync
from kiosk.exceptions import KioskError

ROOT = Path(__file__).resolve().parent.parent
#: The one kiosk module allowed to name sync and central: the CLI's table of
#: commands, as strings imported on demand.
CLI = ROOT / "kiosk" / "cli.py"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import statement in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
    return out


def test_the_device_package_imports_neither_sync_nor_the_server():
    bad = []
    modules = sorted((ROOT / "kiosk").rglob("*.py"))
    assert len(modules) > 30
    for path in modules:
        for line, name in imported_modules(path):
            if name.split(".")[0] in ("sync", "central", "testkit", "bench", "tests"):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert bad == []


def test_the_uploader_uses_the_device_core_and_not_the_server():
    imports = {name for path in (ROOT / "sync").rglob("*.py") for _, name in imported_modules(path)}
    assert not [n for n in imports if n.split(".")[0] in ("central", "testkit", "bench", "tests")]
    assert {"kiosk.buffer", "kiosk.status", "kiosk.backoff"} <= imports


def test_the_cli_names_the_other_packages_only_as_strings():
    names = [n for _, n in imported_modules(CLI)]
    assert not [n for n in names if n.split(".")[0] in ("sync", "central")]
    from kiosk.cli import COMMAND_MODULES

    assert {"sync.commands", "central.commands", "central.demo"} <= set(COMMAND_MODULES)


def test_the_relative_import_reader_resolves_packages():
    got = dict((n, line) for line, n in imported_modules(ROOT / "kiosk" / "hardware" / "commands.py"))
    assert "kiosk.hardware.panel_sim" in got and "kiosk.config" in got


def _error_classes(package) -> list[type[BaseException]]:
    found = []
    for path in sorted(Path(package.__path__[0]).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if ".screens" in name:
            continue  # Kivy modules: their one error class is checked by name below
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found.append(obj)
    return found


@pytest.mark.parametrize("package, root", [(kiosk, KioskError), (sync, sync.SyncError)])
def test_every_error_derives_from_the_package_root(package, root):
    classes = _error_classes(package)
    assert root in classes
    assert [c.__qualname__ for c in classes if not issubclass(c, root)] == []


def test_screen_errors_derive_from_the_kiosk_root():
    tree = ast.parse((ROOT / "kiosk" / "screens" / "fonts.py").read_text(encoding="utf-8"))
    bases = {n.name: [ast.unparse(b) for b in n.bases] for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    assert "KioskError" in bases["FontError"]


def test_an_unknown_reason_is_its_own_error_and_still_a_value_error():
    from kiosk.exceptions import UnknownReasonError
    from kiosk.levels import check_reasons

    with pytest.raises(UnknownReasonError, match="not in the national dictionary"):
        check_reasons(1, ["999"])
    with pytest.raises(ValueError, match="belongs to level 5"):
        check_reasons(1, ["510"])
    assert check_reasons(1, ["115", 115, "113"]) == ["115", "113"]
