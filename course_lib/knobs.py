"""Knobs: the parameters a reading group turns live, one small experiment per cell.

A knob cell is a code cell tagged ``knob`` whose source opens with a ``# KNOB:`` comment (what
to change, and what to look for), then the knob assignments (``NAME = value``), then the small
experiment that uses them. Rerunning that one cell after changing a value shows the change in
seconds, without the rest of the notebook. The committed run records how long each cell took
(papermill's ``duration``), so the tests can hold every knob cell to :data:`KNOB_SECONDS`, and the
session guides list the knobs from the notebooks themselves (``{{knobs}}`` in
:mod:`course_lib.sessions`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

KNOB_TAG = "knob"
KNOB_SECONDS = 60.0
"""A knob cell must run in under a minute on 2 CPU cores (the committed cpu run's timing)."""

_ASSIGNMENT = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*)\s*=\s*(?P<value>.+?)\s*(?:#.*)?$")
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*$")


class KnobError(ValueError):
    """A cell tagged ``knob`` does not have the knob cell's form."""


@dataclass(frozen=True)
class Knob:
    """One knob cell of a notebook."""

    section: str
    """The heading of the section the cell sits in."""
    description: str
    """The ``# KNOB:`` comment, joined into one line."""
    settings: tuple[tuple[str, str], ...]
    """``(NAME, value as written)`` for each knob the cell sets."""
    seconds: float | None
    """How long the cell took in the committed run; ``None`` when it was not executed."""


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def parse_knob_cell(source: str, section: str = "", seconds: float | None = None) -> Knob:
    """The knob of one cell's ``source``; raises :class:`KnobError` saying what is missing."""
    lines = source.splitlines()
    if not lines or not lines[0].startswith("# KNOB:"):
        raise KnobError(
            f"A knob cell must open with a '# KNOB:' comment saying what to change; this one "
            f"opens with {lines[0] if lines else '(nothing)'!r}."
        )
    words = [lines[0].removeprefix("# KNOB:").strip()]
    rest = lines[1:]
    while rest and rest[0].startswith("#"):
        words.append(rest.pop(0).lstrip("#").strip())
    settings = []
    while rest and (match := _ASSIGNMENT.match(rest[0])):
        settings.append((match["name"], match["value"]))
        rest.pop(0)
    if not settings:
        raise KnobError(
            "A knob cell must set its knobs right after the '# KNOB:' comment, one "
            "UPPER_CASE = value per line (for example 'LOCALITY_STRENGTH = 1.0')."
        )
    return Knob(section, " ".join(w for w in words if w), tuple(settings), seconds)


def knob_cells(notebook: Path) -> list[Knob]:
    """Every knob cell of ``notebook``, in order, with the section it sits in and its duration in
    the saved run."""
    return knobs_in(json.loads(Path(notebook).read_text())["cells"], Path(notebook).name)


def knobs_in(cells: list[dict], name: str) -> list[Knob]:
    """:func:`knob_cells` of a notebook already read: its JSON ``cells``; ``name`` for errors."""
    knobs, section = [], ""
    for cell in cells:
        source = _source(cell)
        if cell["cell_type"] == "markdown":
            for line in source.splitlines():
                if match := _HEADING.match(line):
                    section = match["title"]
        elif KNOB_TAG in cell.get("metadata", {}).get("tags", []):
            duration = cell.get("metadata", {}).get("papermill", {}).get("duration")
            try:
                knobs.append(parse_knob_cell(source, section, duration))
            except KnobError as error:
                raise KnobError(f"{name}, section {section!r}: {error}") from None
    return knobs


def knobs_markdown(knobs: list[Knob]) -> str:
    """The knobs as a Markdown list for a session guide."""
    if not knobs:
        return "_This notebook has no knob cell yet._"
    items = []
    for knob in knobs:
        settings = ", ".join(f"`{name} = {value}`" for name, value in knob.settings)
        took = ""
        if knob.seconds is not None:
            seconds = "under 1 s" if knob.seconds < 1 else f"{knob.seconds:.0f} s"
            took = f" (the committed run's cell: {seconds})"
        items.append(f"- {settings} (section *{knob.section}*): {knob.description}{took}")
    return "\n".join(items)
