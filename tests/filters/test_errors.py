"""The one exception tree: every project error class derives from SchoolgateError and is drawn in the map."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import filters.errors
from filters.errors import SchoolgateError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "filters", "quarantine", "config")


def project_error_classes() -> list[tuple[str, str]]:
    """(module, class) for every public class named *Error/*Unavailable/*Timeout defined in the packages."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in tree.body:
                if (isinstance(node, ast.ClassDef) and not node.name.startswith("_")
                        and node.name.endswith(("Error", "Unavailable", "Timeout"))):
                    found.append((module, node.name))
    return found


CLASSES = project_error_classes()


def test_the_scan_finds_the_known_errors():
    names = {name for _, name in CLASSES}
    assert {"ConfigError", "CliError", "StoreError", "ClamdTimeout", "DirectoryError"} <= names
    assert len(names) >= 18


@pytest.mark.parametrize("module,name", CLASSES)
def test_every_error_is_a_schoolgate_error_and_on_the_map(module, name):
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, SchoolgateError), f"{module}.{name} is not under SchoolgateError"
    assert name in filters.errors.__doc__, f"{name} is missing from the tree in filters/errors.py"


@pytest.mark.parametrize("module,name", [("filters.lexicon", "LexiconError"),
                                         ("filters.directory", "DirectoryError"),
                                         ("quarantine.report_data", "PeriodError")])
def test_value_errors_stay_value_errors(module, name):
    assert issubclass(getattr(importlib.import_module(module), name), ValueError)


def test_the_map_names_no_class_that_does_not_exist():
    names = {name for _, name in CLASSES} | {"SchoolgateError"}
    drawn = set()
    for line in filters.errors.__doc__.splitlines():
        text = line.replace("│", " ").replace("├──", " ").replace("└──", " ").split()
        if text and ("──" in line or text[0] == "SchoolgateError"):
            drawn.add(text[0])
    assert len(drawn) >= 19 and drawn <= names, drawn - names
