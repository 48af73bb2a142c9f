"""Knob cells: the form course_lib.knobs reads, and the committed notebooks' knobs run in under a
minute."""

import dataclasses
import json

import pytest

from course_lib.knobs import (
    KNOB_SECONDS,
    KnobError,
    knob_cells,
    knobs_markdown,
    parse_knob_cell,
)
from course_lib.run import REPO, course_notebooks

CELL = """# KNOB: the locality strength alpha (the paper uses 1). Try 0.1 or 5,
# then rerun this cell.
LOCALITY_STRENGTH = 1.0  # alpha
HEADS = 9
model = build(LOCALITY_STRENGTH, HEADS)
"""


def test_a_knob_cell_gives_its_comment_and_settings():
    knob = parse_knob_cell(CELL, "4. The gate", 3.5)
    assert knob.description == (
        "the locality strength alpha (the paper uses 1). Try 0.1 or 5, then rerun this cell."
    )
    assert knob.settings == (("LOCALITY_STRENGTH", "1.0"), ("HEADS", "9"))
    assert (knob.section, knob.seconds) == ("4. The gate", 3.5)


@pytest.mark.parametrize(
    "source, says",
    [
        ("ALPHA = 1\n", "# KNOB:"),
        ("# KNOB: alpha\nmodel = build()\n", "UPPER_CASE = value"),
        ("", "(nothing)"),
    ],
)
def test_a_malformed_knob_cell_says_what_is_missing(source, says):
    with pytest.raises(KnobError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_knob_cell(source)


def _write(path, cells):
    path.write_text(json.dumps({"cells": cells}))


def test_knob_cells_are_found_by_tag_with_their_section_and_duration(tmp_path):
    notebook = tmp_path / "09_x.ipynb"
    knob = {
        "cell_type": "code",
        "metadata": {"tags": ["knob"], "papermill": {"duration": 12.25}},
        "source": CELL,
    }
    plain = {"cell_type": "code", "metadata": {}, "source": "# KNOB: not tagged\nA = 1\n"}
    heading = {"cell_type": "markdown", "metadata": {}, "source": "text\n## 4. The gate\nmore"}
    _write(notebook, [plain, heading, knob])
    (found,) = knob_cells(notebook)
    assert (found.section, found.seconds) == ("4. The gate", 12.25)
    text = knobs_markdown([found])
    assert text.startswith(
        "- `LOCALITY_STRENGTH = 1.0`, `HEADS = 9` (section *4. The gate*): the locality"
    )
    assert text.endswith("(the committed run's cell: 12 s)")
    assert knobs_markdown([]) == "_This notebook has no knob cell yet._"
    quick = dataclasses.replace(found, seconds=0.2)
    assert knobs_markdown([quick]).endswith("(the committed run's cell: under 1 s)")
    knob["source"] = "print('no comment')\n"
    _write(notebook, [heading, knob])
    with pytest.raises(KnobError, match=r"09_x.ipynb, section '4. The gate'"):
        knob_cells(notebook)


@pytest.mark.parametrize("notebook", course_notebooks(REPO / "notebooks"), ids=lambda p: p.stem)
def test_every_notebook_has_one_or_two_knobs_that_ran_in_under_a_minute(notebook):
    knobs = knob_cells(notebook)
    assert 1 <= len(knobs) <= 2, f"{notebook.name}: one or two knob cells, found {len(knobs)}"
    for knob in knobs:
        assert knob.seconds is not None, f"{notebook.name}: a knob cell was not executed"
        assert knob.seconds < KNOB_SECONDS, (
            f"{notebook.name}, {knob.section}: the knob cell took {knob.seconds:.0f} s in the "
            f"committed run; a knob must rerun in under {KNOB_SECONDS:.0f} s"
        )
