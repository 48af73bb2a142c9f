"""Errors the data layer raises, each with a message that says how to fix the problem."""

from __future__ import annotations


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable."""


class CorruptCacheError(RuntimeError):
    """A cached decoded dataset cannot be read or fails its checksum."""


class CorruptDataError(ValueError):
    """A file of a dataset copy is damaged or not what its layout promises (the message names
    the file)."""
