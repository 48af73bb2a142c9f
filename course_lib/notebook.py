"""What every notebook does first and last: print where it runs, record metrics, time itself.

A notebook's first code cell after ``parameters`` is::

    run = start_notebook("03_vision_transformer", profile=profile, dataset=dataset,
                         output_dir=output_dir, seed=seed)

which resolves the profile, device and base seed (``COURSE_SEED`` overrides the ``seed``
parameter), loads the dataset, and prints profile, device, seed, dataset and library versions.
Experiments draw their seeds from ``run.seeds(n)``; each tested paper claim goes through
``run.claim(...)`` (see :mod:`course_lib.claims`). Key numbers go into ``run.metrics``;
``run.finish()`` in the last cell prints the claims table, writes the metrics and the claims to
``<output_dir>/metrics.json`` (the regression tests read that file) and prints the wall time.
"""

from __future__ import annotations

import json
import os
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from course_lib.claims import Claim, claims_table, make_claim
from course_lib.data import ImageDataset, load_dataset
from course_lib.device import describe_precision, get_device, resolve_profile, seed_everything


def default_build_dir() -> Path:
    """``build/`` in the repository that holds ``course_lib`` (else in the working folder)."""
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").is_file():
        return repo / "build"
    return Path.cwd() / "build"


@dataclass
class NotebookRun:
    """A running notebook: its resolved settings, dataset and metrics."""

    name: str
    profile: str
    device: torch.device
    data: ImageDataset | None
    output_dir: Path
    seed: int
    started: float = field(default_factory=time.perf_counter)
    metrics: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, Claim] = field(default_factory=dict)

    def choose(self, **by_profile: Any) -> Any:
        """The value for the current profile: ``run.choose(smoke=1, cpu=5, gpu=60)``. The ``live``
        profile takes its ``live`` value, or the ``smoke`` one when the notebook gives none."""
        if self.profile == "live" and "live" not in by_profile and "smoke" in by_profile:
            return by_profile["smoke"]
        if self.profile not in by_profile:
            raise KeyError(f"No value given for profile {self.profile!r} (got {list(by_profile)}).")
        return by_profile[self.profile]

    def seeds(self, n: int) -> list[int]:
        """``n`` seeds for the repeated runs of one comparison, derived from the base seed so
        that another base seed (``COURSE_SEED=1``) gives ``n`` different ones: base 0 gives
        0, 1, 2, ...; base 1 gives 1000, 1001, 1002, ..."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}.")
        return [self.seed * 1000 + i for i in range(n)]

    def claim(
        self,
        id: str,
        text: str,
        a: Any,
        b: Any = None,
        *,
        unit: str = "points",
        paper: str | None = None,
        **judge_kwargs: Any,
    ) -> Claim:
        """Judge a paper's claim from per-seed results (:func:`course_lib.claims.make_claim`:
        arm ``a`` against arm ``b`` or a ``baseline``), print its line, and keep it for the
        closing table. Recording the same ``id`` again replaces it."""
        result = make_claim(
            id,
            text,
            list(a),
            None if b is None else list(b),
            unit=unit,
            paper=paper,
            **judge_kwargs,
        )
        self.claims[id] = result
        print(result.line())
        return result

    @property
    def checkpoint_root(self) -> Path:
        """Where trained models are kept so that later notebooks of the same series run can reuse
        them: ``<build>/checkpoints`` when the metrics go to ``<build>/metrics/<name>`` (the
        runner's layout), else ``<output_dir>/checkpoints``."""
        if self.output_dir.parent.name == "metrics":
            return self.output_dir.parent.parent / "checkpoints"
        return self.output_dir / "checkpoints"

    def _print_committed_claims(self) -> None:
        """After a live run: the verdicts of the committed run, read from the notebook as
        committed in the repository (a live run is too short to decide them itself)."""
        from course_lib.sessions import REPO, committed_claims  # imports the runner, importing us

        committed = REPO / "notebooks" / f"{self.name}.ipynb"
        if not committed.is_file():
            print(f"No committed notebooks/{committed.name} to read the claims from.")
            return
        claims = committed_claims(committed)
        if not claims:
            print(f"The committed {committed.name} tests no claims: its checks are exact.")
            return
        print(
            f"The committed run's claims, read from notebooks/{committed.name} (this live run is "
            "too short to decide them; its own table above, if any, shows the same comparisons "
            "at reduced strength):"
        )
        for claim in claims:
            print(
                f"  {claim.id}: {claim.verdict}, {claim.effect} vs noise {claim.noise} {claim.unit}"
            )

    @property
    def wall_time(self) -> float:
        return time.perf_counter() - self.started

    def finish(self) -> Path:
        """Print the claims table, write ``metrics.json`` and print the wall time; returns the
        file's path."""
        wall = self.wall_time
        payload = {
            "notebook": self.name,
            "profile": self.profile,
            "device": str(self.device),
            "dataset": self.data.name if self.data is not None else None,
            "seed": self.seed,
            "torch": torch.__version__,
            "wall_time_s": round(wall, 2),
            "metrics": _jsonable(self.metrics),
            "claims": [_jsonable(c.to_dict()) for c in self.claims.values()],
        }
        if self.claims:
            print(f"Claims tested in this run (base seed {self.seed}):")
            print(claims_table(list(self.claims.values())))
        if self.profile == "live":
            self._print_committed_claims()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / "metrics.json"
        path.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"Finished {self.name} (profile {self.profile}, {self.device}) in {wall:.1f} s.")
        print(f"Metrics written to {path}")
        return path


def start_notebook(
    name: str,
    *,
    profile: str = "auto",
    dataset: str | None = "auto",
    output_dir: str | Path | None = None,
    seed: int = 0,
    **dataset_kwargs: Any,
) -> NotebookRun:
    """Resolve profile and device, seed everything, load ``dataset`` (``None``: no dataset), and
    print the run's header. The environment variable ``COURSE_SEED`` replaces ``seed`` (so the
    same notebook with another base seed is one command). ``dataset_kwargs`` go to
    :func:`course_lib.data.load_dataset`."""
    # tqdm.auto (imported by timm's hub code) warns when ipywidgets is missing; the course's
    # progress bars are plain text, so the warning is noise.
    warnings.filterwarnings("ignore", message="IProgress not found")
    device = get_device()
    resolved = resolve_profile(profile, device)
    seed = resolve_seed(seed)
    seed_everything(seed)
    out = Path(output_dir) if output_dir else default_build_dir() / "metrics" / name
    print(f"Notebook : {name}")
    print(f"Profile  : {resolved}" + _profile_origin(profile, resolved))
    if resolved == "live":
        print(
            "           (a short run for a reading group: the notebook's live settings, or its "
            "smoke ones; the committed run's claims at the end)"
        )
    print(f"Device   : {_describe_device(device)}")
    print(f"Precision: {describe_precision(device)}")
    print(f"Seed     : {seed}" + (" (from COURSE_SEED)" if "COURSE_SEED" in os.environ else ""))
    print(f"Versions : python {platform.python_version()}, torch {torch.__version__}")
    data = None
    if dataset is not None:
        data = load_dataset(dataset, seed=seed, **dataset_kwargs)
        print(
            f"Dataset  : {data.name}: {len(data.train)} train / {len(data.test)} test images "
            f"of {data.image_size}x{data.image_size}, {data.num_classes} classes ({data.source})"
        )
    return NotebookRun(name, resolved, device, data, out, seed)


def matches(actual: Any, expected: Any, **tolerances: Any) -> bool:
    """Whether ``torch.testing.assert_close(actual, expected, **tolerances)`` passes, as a bool
    a notebook can record in its checks (and print) instead of stopping at the first
    difference; ``False`` also for mismatched shapes or dtypes."""
    try:
        torch.testing.assert_close(actual, expected, **tolerances)
    except AssertionError:
        return False
    return True


def _profile_origin(parameter: str, resolved: str) -> str:
    """Where the profile that runs came from, for the header."""
    if os.environ.get("COURSE_PROFILE"):
        return f" (from COURSE_PROFILE; the notebook's parameter is {parameter!r})"
    return f" (from {parameter!r})" if parameter != resolved else ""


def resolve_seed(seed: int) -> int:
    """The notebook's base seed: ``COURSE_SEED`` when set, else ``seed``."""
    env = os.environ.get("COURSE_SEED")
    if env is None or not env.strip():
        return int(seed)
    try:
        return int(env)
    except ValueError:
        raise ValueError(f"COURSE_SEED must be an integer, got {env!r}.") from None


def _describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _jsonable(value.tolist())
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value
