"""Test-wide settings. Notebooks collected by nbval (``--nbval-lax``) run in a kernel that inherits
this process's environment, so the smoke profile is set here for them."""

import os

os.environ.setdefault("COURSE_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_PROGRESS", "0")
