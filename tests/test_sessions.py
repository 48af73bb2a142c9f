"""Session guides: rendered from their templates and the committed notebooks, never stale."""

import json

import pytest

from course_lib import sessions
from course_lib.run import course_notebooks


def _notebook(path, lines):
    stream = {"output_type": "stream", "name": "stdout", "text": lines}  # as nbformat writes it
    cells = [{"cell_type": "code", "outputs": [stream]}]
    path.write_text(json.dumps({"cells": cells}))


CLAIMS = [
    "header\n",
    "claim 09.lead: shown      effect +5.3 vs noise 1.2  (points)\n",
    "Claims tested in this run (base seed 0):\n",
    "claim 09.lead: shown      effect +5.3 vs noise 1.2  (points)\n",
    "claim 09.fall: not shown  effect +2.3 vs noise 1.2  (points, 1 seed: a verdict needs 3)\n",
    "claim 09.abs: reversed   effect -5 vs noise 1  (|eigenvalue|)\n",
    "shown: 1, not shown: 1, reversed: 0\n",
    "Finished 09_convit (profile cpu, cpu) in 600.0 s.\n",
]


def test_placeholders_are_filled_from_the_printed_outputs(tmp_path):
    notebook = tmp_path / "09_convit.ipynb"
    _notebook(notebook, CLAIMS)
    claims = sessions.committed_claims(notebook)
    assert [c.id for c in claims] == ["09.lead", "09.fall", "09.abs"]  # the closing table only
    assert claims[1].reason == "1 seed: a verdict needs 3"
    text = sessions.render("{{claim:09.lead}} | {{line:^header}} | {{wall}}\n{{claims}}", notebook)
    first, *table = text.split("\n")
    assert first == "**shown**: +5.3 vs noise 1.2 points | header | 10.0 min (profile cpu)"
    assert table[2] == "| `09.lead` | **shown** | +5.3 | 1.2 | points |"
    assert table[3].startswith("| `09.fall` | **not shown** |")
    assert table[4] == "| `09.abs` | **reversed** | -5 | 1 | \\|eigenvalue\\| |"  # escaped
    assert sessions.render("{{claim:09.abs}}", notebook).endswith("\\|eigenvalue\\|")


def test_the_knobs_placeholder_lists_the_knob_cells(tmp_path):
    notebook = tmp_path / "09_convit.ipynb"
    _notebook(notebook, CLAIMS)
    assert sessions.render("{{knobs}}", notebook) == "_This notebook has no knob cell yet._"
    cells = json.loads(notebook.read_text())["cells"]
    knob = "# KNOB: try 0.1 or 5.\nALPHA = 1.0\ntrain(ALPHA)\n"
    cells.append({"cell_type": "markdown", "source": "## 3. Locality"})
    cells.append({"cell_type": "code", "metadata": {"tags": ["knob"]}, "source": knob})
    notebook.write_text(json.dumps({"cells": cells}))
    assert sessions.render("{{knobs}}", notebook) == (
        "- `ALPHA = 1.0` (section *3. Locality*): try 0.1 or 5."
    )
    cells[-1]["source"] = "ALPHA = 1.0\n"  # tagged, but without its '# KNOB:' comment
    notebook.write_text(json.dumps({"cells": cells}))
    with pytest.raises(sessions.SessionError, match=r"09.md: \{\{knobs\}\}: .*# KNOB:"):
        sessions.render("{{knobs}}", notebook, "09.md")


@pytest.mark.parametrize(
    "template, named",
    [("{{claim:09.gone}}", "09.gone"), ("{{line:^nothing}}", "nothing"), ("{{nope}}", "nope")],
)
def test_a_placeholder_the_outputs_cannot_fill_is_named(tmp_path, template, named):
    notebook = tmp_path / "09_convit.ipynb"
    _notebook(notebook, CLAIMS)
    with pytest.raises(sessions.SessionError, match=named):
        sessions.render(template, notebook, "09.md")


def test_a_notebook_without_a_template_is_named(tmp_path):
    (tmp_path / "notebooks").mkdir()
    _notebook(
        tmp_path / "notebooks" / "01_first.ipynb", ["Finished x (profile cpu, cpu) in 1 s.\n"]
    )
    with pytest.raises(sessions.SessionError, match="01_first.ipynb"):
        sessions.build(notebooks=tmp_path / "notebooks", sessions=tmp_path / "docs" / "sessions")


def test_every_notebook_has_a_guide_that_matches_its_committed_outputs():
    guides = sessions.guide_pairs()
    assert [n for n, _, _ in guides] == course_notebooks(sessions.REPO / "notebooks")
    # a guide whose numbers differ from its notebook's (or that is missing) is stale
    assert sessions.build(check=True) == [], "run `make sessions` and commit the guides"
    index = (sessions.SESSIONS / "README.md").read_text()
    assert all(f"]({guide.name})" in index for _, _, guide in guides)
