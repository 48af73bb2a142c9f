"""The project's own files agree with each other."""

import re
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib.run import course_notebooks

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from the tomli backport (a declared dependency there)
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = course_notebooks(REPO / "notebooks")


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0].lower()


def _pip_section(environment_yml: str) -> list[str]:
    """The entries under ``- pip:`` in environment.yml (read without a YAML library, which the
    course does not depend on: the file's layout is fixed, and this test would see it change)."""
    lines = environment_yml.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    indent = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    entries = []
    for line in lines[start + 1 :]:
        if not line.strip() or len(line) - len(line.lstrip()) < indent:
            break
        entries.append(line.strip().removeprefix("- ").strip())
    return entries


def test_environment_yml_lists_the_pyproject_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = sorted(project["dependencies"] + project["optional-dependencies"]["dev"])
    pip_section = _pip_section((REPO / "environment.yml").read_text())
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
    assert NOTEBOOKS
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, path.name
        source = tagged[0].source
        for knob in ("profile", "dataset", "output_dir", "seed"):
            assert re.search(rf"^{knob}\s*=", source, re.M), (path.name, knob)


def test_readme_links_every_notebook_and_every_link_exists():
    readme = (REPO / "README.md").read_text()
    linked = set(re.findall(r"\]\((notebooks/[0-9]{2}[a-z]?_\w+\.ipynb)\)", readme))
    present = {f"notebooks/{p.name}" for p in NOTEBOOKS}
    assert linked <= present, f"README links missing notebooks: {sorted(linked - present)}"
    assert present <= linked, f"README does not link: {sorted(present - linked)}"


def test_committed_notebooks_are_executed_and_say_how():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.execution_count is not None for c in code), f"{path.name} is not executed"
        header = "".join(o.get("text", "") for o in code[1].outputs)
        assert "Profile  :" in header and "Device   :" in header, path.name
        assert "Precision:" in header, path.name
        assert "Finished" in "".join(o.get("text", "") for o in code[-1].outputs), path.name


def test_checked_cells_show_no_figures():
    """nbval runs the notebooks with the Agg backend, where `plt.show()` displays nothing: a cell
    marked NBVAL_CHECK_OUTPUT that shows a figure would fail on every machine but the author's."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or "NBVAL_CHECK_OUTPUT" not in cell.source:
                continue
            figures = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert not figures, f"{path.name} cell {index}: a checked cell shows a figure"
            assert "plt.show" not in cell.source and "plots." not in cell.source, (
                f"{path.name} cell {index}: a checked cell must not draw (nbval runs with Agg)"
            )


def test_make_setup_refuses_a_venv_made_by_an_old_python(tmp_path):
    """A .venv left by a failed first install with the wrong interpreter is named, not reused."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    fake = tmp_path / "venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\ncase "$2" in *platform*) echo 3.8.10 ;; *) exit 1 ;; esac\n')
    fake.chmod(0o755)
    result = subprocess.run(
        ["make", "-s", "setup", f"VENV={tmp_path / 'venv'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "made by Python 3.8.10" in result.stdout and "make distclean" in result.stdout
