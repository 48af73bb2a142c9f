"""Execute the course's notebooks in order with papermill: ``python -m course_lib.run``.

::

    python -m course_lib.run                       # every notebook, profile auto, dataset auto
    python -m course_lib.run --profile smoke 00    # notebooks whose name starts with "00"

Each notebook is executed into ``build/<name>.ipynb`` with ``profile``, ``dataset`` and
``output_dir`` injected into its ``parameters`` cell, writes ``build/metrics/<name>/metrics.json``
and is rendered to ``build/<name>.html``. One line is printed per notebook; the exit status is
non-zero, naming the notebook and the cell, when one fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from course_lib.data import DATASETS
from course_lib.device import PROFILES
from course_lib.notebook import default_build_dir

REPO = Path(__file__).resolve().parents[1]


class NotebookFailed(RuntimeError):
    """A notebook raised while executing; the message names the notebook and the cell."""


def course_notebooks(folder: Path) -> list[Path]:
    """The numbered notebooks in ``folder`` (``03_vision_transformer.ipynb``,
    ``03b_training_a_vit.ipynb``, ...) in reading order: 03 before 03b before 04."""
    return sorted(folder.glob("[0-9][0-9]*_*.ipynb"))


def _selects(item: str, stem: str) -> bool:
    """Whether ``item`` names the notebook ``stem``: its number (``"03"`` is 03, not 03b) or a
    prefix of its name that contains the whole number (``"03_vision"``, ``"03b_train"``)."""
    number = stem.split("_")[0]
    return item == number or (item.startswith(number) and stem.startswith(item))


def find_notebooks(selection: list[str], folder: Path) -> list[Path]:
    """The notebooks in ``folder`` in reading order; ``selection`` holds paths, numbers or name
    prefixes (``"03"``, ``"03b"``, ``"03_vision"``) and keeps the ones that match."""
    every = course_notebooks(folder)
    if not selection:
        return every
    chosen: list[Path] = []
    for item in selection:
        path = Path(item)
        if path.suffix == ".ipynb" and path.is_file():
            chosen.append(path)
            continue
        matches = [p for p in every if _selects(path.stem, p.stem)]
        if not matches:
            names = ", ".join(p.stem for p in every) or "none"
            raise SystemExit(f"No notebook matches {item!r}. Available: {names}.")
        chosen += matches
    return list(dict.fromkeys(chosen))


def execute(
    notebook: Path,
    build_dir: Path,
    *,
    profile: str,
    dataset: str | None = None,
    html: bool = True,
    extra_parameters: dict | None = None,
    in_place: bool = False,
) -> dict:
    """Run one notebook with papermill and return its metrics file's content.

    ``dataset``: injected into the notebook's ``dataset`` parameter; ``None`` keeps the notebook's
    own (``"auto"`` in most notebooks, the ``readout`` task in 08).
    ``in_place``: inject nothing (the notebook keeps its own parameters, profile ``auto``) and
    write the executed notebook over ``notebook``: this is how the committed outputs are made.
    """
    import papermill as pm

    name = notebook.stem
    metrics_dir = (default_build_dir() if in_place else build_dir) / "metrics" / name
    metrics_file = metrics_dir / "metrics.json"
    if metrics_file.exists():
        metrics_file.unlink()
    output = notebook if in_place else build_dir / f"{name}.ipynb"
    parameters = {"profile": profile, "output_dir": str(metrics_dir)}
    if dataset is not None:
        parameters["dataset"] = dataset
    parameters.update(extra_parameters or {})
    if in_place:
        parameters = {}
    build_dir.mkdir(parents=True, exist_ok=True)
    # The kernel inherits this: no progress bars in executed notebooks (nobody watches them).
    os.environ["COURSE_PROGRESS"] = "0"
    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(notebook.parent),
            progress_bar=False,
        )
    except pm.PapermillExecutionError as err:
        raise NotebookFailed(
            f"{notebook}: cell {err.cell_index} (execution count {err.exec_count}) raised "
            f"{err.ename}: {err.evalue}. The partly executed copy is {output}."
        ) from err
    if not metrics_file.is_file():
        raise NotebookFailed(f"{notebook} ran but wrote no {metrics_file} (run.finish() missing?).")
    if html:
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_filename(str(output))
        (build_dir / f"{name}.html").write_text(body, encoding="utf-8")
    return json.loads(metrics_file.read_text())


CHECK_MARK = "NBVAL_CHECK_OUTPUT"


def output_text(cell: dict) -> dict[str, str]:
    """A code cell's outputs as text, by kind: each stream's text, the ``text/plain`` of results
    and displays, and errors by name (images and HTML are not compared: they vary by library)."""
    text: dict[str, str] = {}
    for output in cell.get("outputs", []):
        kind = output["output_type"]
        if kind == "stream":
            key, value = f"stream {output['name']}", output["text"]
        elif kind in ("execute_result", "display_data"):
            key, value = kind, output.get("data", {}).get("text/plain", "")
        else:
            key, value = kind, f"{output.get('ename')}: {output.get('evalue')}"
        value = "".join(value) if isinstance(value, list) else value
        text[key] = text.get(key, "") + value
    return text


def checked_output_differences(committed: Path, executed: Path) -> list[str]:
    """Compare the cells of ``committed`` marked ``# NBVAL_CHECK_OUTPUT`` with the same cells
    (same source) of ``executed``: one line per difference, empty when all agree. This is the
    check ``pytest --nbval-lax`` makes, done on a notebook that has already run."""
    import difflib

    import nbformat

    ran = [c for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code"]
    differences = []
    for index, cell in enumerate(nbformat.read(committed, as_version=4).cells):
        if cell.cell_type != "code" or CHECK_MARK not in cell.source:
            continue
        twin = next((c for c in ran if c.source == cell.source), None)
        if twin is None:
            differences.append(f"cell {index}: not found in the executed notebook")
            continue
        want, got = output_text(cell), output_text(twin)
        for key in sorted(set(want) | set(got)):
            if want.get(key, "") != got.get(key, ""):
                diff = difflib.unified_diff(
                    want.get(key, "").splitlines(),
                    got.get(key, "").splitlines(),
                    "committed",
                    "executed",
                    lineterm="",
                    n=1,
                )
                differences.append(f"cell {index} ({key}):\n" + "\n".join(list(diff)[:20]))
    return differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("notebooks", nargs="*", help="paths or name prefixes (default: all)")
    parser.add_argument("--profile", default="auto", choices=("auto", *PROFILES))
    parser.add_argument(
        "--dataset",
        default=None,
        choices=DATASETS,
        help="default: each notebook's own ('auto' in most, the readout task in 08)",
    )
    parser.add_argument("--build-dir", type=Path, default=None, help="default: <repo>/build")
    parser.add_argument("--notebook-dir", type=Path, default=REPO / "notebooks")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML rendering")
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="execute with each notebook's own parameters (profile auto) and save the outputs "
        "back into the notebook (how the committed outputs are made)",
    )
    args = parser.parse_args(argv)
    if args.in_place and (args.profile != "auto" or args.dataset is not None):
        parser.error("--in-place runs each notebook's own parameters: drop --profile/--dataset.")

    build_dir = (args.build_dir or default_build_dir()).resolve()
    notebooks = find_notebooks(args.notebooks, args.notebook_dir)
    if not notebooks:
        print(f"No notebooks found in {args.notebook_dir}.", file=sys.stderr)
        return 2
    print(
        f"Running {len(notebooks)} notebook(s), profile {args.profile}, dataset "
        f"{args.dataset or 'of each notebook'}, into {build_dir}",
        flush=True,
    )
    for i, notebook in enumerate(notebooks, 1):
        start = time.perf_counter()
        try:
            result = execute(
                notebook,
                build_dir,
                profile=args.profile,
                dataset=args.dataset,
                html=not args.no_html,
                in_place=args.in_place,
            )
        except NotebookFailed as err:
            print(
                f"[{i}/{len(notebooks)}] {notebook.stem}: FAILED after "
                f"{time.perf_counter() - start:.0f} s\n  {err}",
                file=sys.stderr,
                flush=True,
            )
            return 1
        print(
            f"[{i}/{len(notebooks)}] {notebook.stem}: ok in {time.perf_counter() - start:.0f} s "
            f"(profile {result['profile']}, {result['device']}, dataset {result['dataset']}) "
            f"-> {build_dir / notebook.stem}.ipynb" + ("" if args.no_html else " + .html"),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
