"""The project's own files agree with each other."""

import re
from pathlib import Path

import tomllib
import yaml

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0].lower()


def test_environment_yml_lists_the_pyproject_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = sorted(project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = sorted(r for r in pip_section if not r.startswith("-e"))
    assert listed == wanted
    assert "-e .[dev]" in pip_section


def test_required_libraries_are_declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    assert {
        "torch",
        "torchvision",
        "timm",
        "matplotlib",
        "numpy",
        "tqdm",
        "papermill",
        "nbval",
        "jupyterlab",
        "ipykernel",
        "pytest",
    } <= names
    assert all(any(op in r for op in (">=", "<", "~=")) for r in project["dependencies"])


def test_every_notebook_has_one_parameters_cell_with_a_profile():
    import nbformat

    notebooks = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, path.name
        source = tagged[0].source
        for knob in ("profile", "dataset", "output_dir", "seed"):
            assert re.search(rf"^{knob}\s*=", source, re.M), (path.name, knob)
