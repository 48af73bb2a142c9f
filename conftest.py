"""Test-wide settings. The notebooks run in kernels that inherit this process's environment (in
tests/test_notebooks.py through papermill, and under `pytest --nbval-lax notebooks/` when run by
hand), so the smoke profile is set here for them."""

import os

os.environ.setdefault("COURSE_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_PROGRESS", "0")
