"""Session guides for reading groups, with their numbers read from the committed notebooks.

Each notebook ``notebooks/NN_name.ipynb`` has a hand-written template
``docs/sessions/templates/NN.md`` (what to read, a 60-minute plan, discussion questions) in which
every measured number is a placeholder; ``python -m course_lib.sessions`` (``make sessions``)
renders ``docs/sessions/NN.md`` from it and the notebook's committed outputs, so that a guide never
drifts from the notebook it prepares. ``--check`` renders without writing and fails when a guide
is out of date (the tests run it).

Placeholders:

- ``{{claims}}``: the notebook's closing claims table as a Markdown table;
- ``{{claim:ID}}``: one claim, e.g. "**shown**: +7.8 vs noise 1.5 points";
- ``{{line:REGEX}}``: the first line of the notebook's printed output matching ``REGEX``;
- ``{{wall}}``: the committed run's wall time and profile, e.g. "9.0 min (profile cpu)";
- ``{{knobs}}``: the notebook's knob cells (:mod:`course_lib.knobs`) as a Markdown list.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from course_lib.knobs import KnobError, knobs_in, knobs_markdown
from course_lib.run import course_notebooks, output_text

REPO = Path(__file__).resolve().parents[1]
SESSIONS = REPO / "docs" / "sessions"
PLACEHOLDER = re.compile(r"\{\{(\w+)(?::(.*?))?\}\}")
CLAIM_LINE = re.compile(
    r"^claim (?P<id>\S+): (?P<verdict>shown|not shown|reversed)\s+effect (?P<effect>\S+) vs "
    r"noise (?P<noise>\S+)\s+\((?P<unit>[^,)]+)(?:, (?P<reason>.*))?\)$"
)
FINISHED = re.compile(
    r"^Finished \S+ \(profile (?P<profile>\w+), [^)]*\) in (?P<seconds>[\d.]+) s\."
)


class SessionError(ValueError):
    """A template asks for something its notebook's outputs do not have."""


@dataclass(frozen=True)
class ClaimLine:
    """One line of a notebook's closing claims table, as printed."""

    id: str
    verdict: str
    effect: str
    noise: str
    unit: str
    reason: str

    def short(self) -> str:
        """The verdict, effect, noise and unit: "**shown**: +7.8 vs noise 1.5 points" (a "|"
        escaped, so that it fits a table cell)."""
        return f"**{self.verdict}**: {self.effect} vs noise {self.noise} {_cell(self.unit)}"


def _cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell."""
    return text.replace("|", "\\|")


def output_lines(notebook: Path) -> list[str]:
    """Every line the notebook printed (its cells' outputs as :func:`course_lib.run.output_text`
    reads them), in cell order."""
    return _printed_lines(json.loads(Path(notebook).read_text())["cells"])


def _printed_lines(cells: list[dict]) -> list[str]:
    return [
        line for cell in cells for text in output_text(cell).values() for line in text.splitlines()
    ]


def committed_claims(notebook: Path) -> list[ClaimLine]:
    """The claims of the notebook's closing table (the last "Claims tested" block it printed)."""
    return _closing_claims(output_lines(notebook))


def _closing_claims(lines: list[str]) -> list[ClaimLine]:
    starts = [i for i, line in enumerate(lines) if line.startswith("Claims tested in this run")]
    if not starts:
        return []
    claims = []
    for line in lines[starts[-1] + 1 :]:
        match = CLAIM_LINE.match(line.strip())
        if match is None:
            break
        claims.append(ClaimLine(**{k: v or "" for k, v in match.groupdict().items()}))
    return claims


def _claims_table(claims: list[ClaimLine]) -> str:
    if not claims:
        return "_This notebook tests no paper's claim: its checks are exact (see the notebook)._"
    rows = ["| claim | verdict | effect | noise | unit |", "|---|---|---|---|---|"]
    rows += [
        f"| `{c.id}` | **{c.verdict}** | {c.effect} | {c.noise} | {_cell(c.unit)} |" for c in claims
    ]
    return "\n".join(rows)


def render(template: str, notebook: Path, name: str = "template") -> str:
    """``template`` with its placeholders filled from ``notebook``'s committed outputs. Raises
    :class:`SessionError` naming the placeholder when the outputs lack what it asks for."""
    cells = json.loads(Path(notebook).read_text())["cells"]  # read once for every placeholder
    lines = _printed_lines(cells)
    claims = {c.id: c for c in _closing_claims(lines)}

    def fill(match: re.Match[str]) -> str:
        kind, argument = match.group(1), match.group(2)
        if kind == "claims":
            return _claims_table(list(claims.values()))
        if kind == "claim":
            if argument not in claims:
                raise SessionError(
                    f"{name}: {{{{claim:{argument}}}}} is not in the claims table of "
                    f"{Path(notebook).name} (it has: {', '.join(claims) or 'none'})."
                )
            return claims[argument].short()
        if kind == "line":
            pattern = re.compile(argument or "")
            found = next((line.strip() for line in lines if pattern.search(line)), None)
            if found is None:
                raise SessionError(
                    f"{name}: no printed line of {Path(notebook).name} matches {argument!r}."
                )
            return found
        if kind == "wall":
            found = next((m for line in lines if (m := FINISHED.match(line.strip()))), None)
            if found is None:
                raise SessionError(f"{name}: {Path(notebook).name} printed no wall time.")
            minutes = float(found["seconds"]) / 60
            when = f"{minutes:.1f} min" if minutes >= 1 else f"{float(found['seconds']):.0f} s"
            return f"{when} (profile {found['profile']})"
        if kind == "knobs":
            try:
                return knobs_markdown(knobs_in(cells, Path(notebook).name))
            except KnobError as error:
                raise SessionError(f"{name}: {{{{knobs}}}}: {error}") from None
        raise SessionError(f"{name}: unknown placeholder {match.group(0)!r}.")

    return PLACEHOLDER.sub(fill, template)


def guide_pairs(
    notebooks: Path = REPO / "notebooks", sessions: Path = SESSIONS
) -> list[tuple[Path, Path, Path]]:
    """``(notebook, template, guide)`` for every course notebook; a missing template raises
    :class:`SessionError`."""
    pairs = []
    for notebook in course_notebooks(notebooks):
        number = notebook.name.split("_", 1)[0]
        template = sessions / "templates" / f"{number}.md"
        if not template.is_file():
            raise SessionError(f"No session template for {notebook.name}: write {template}.")
        pairs.append((notebook, template, sessions / f"{number}.md"))
    return pairs


HEADER = (
    "<!-- Generated by `make sessions` from {template} and the committed outputs of "
    "{notebook}: edit the template, not this file. -->\n\n"
)


def build(check: bool = False, notebooks: Path = REPO / "notebooks", sessions: Path = SESSIONS):
    """Render every guide; returns the guides that were (``check``: would be) rewritten."""
    stale = []
    for notebook, template, guide in guide_pairs(notebooks, sessions):
        text = HEADER.format(
            template=template.relative_to(sessions.parent.parent).as_posix(),
            notebook=notebook.relative_to(notebooks.parent).as_posix(),
        ) + render(template.read_text(), notebook, template.name)
        if not guide.is_file() or guide.read_text() != text:
            stale.append(guide)
            if not check:
                guide.write_text(text)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.sessions",
        description="Render docs/sessions/NN.md from their templates and the committed notebooks.",
    )
    parser.add_argument("--check", action="store_true", help="fail if a guide is out of date")
    args = parser.parse_args(argv)
    try:
        stale = build(check=args.check)
    except SessionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.check and stale:
        names = ", ".join(p.name for p in stale)
        print(f"Out of date: {names}. Run `make sessions` and commit the result.", file=sys.stderr)
        return 1
    print(
        f"{'Checked' if args.check else 'Rendered'} the session guides; "
        f"{len(stale)} {'stale' if args.check else 'rewritten'}."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
