"""Exceptions raised by storycluster; the CLI turns each into a one-line message and an exit code."""

from __future__ import annotations


class StoryclusterError(Exception):
    """Base class of every error a user can cause (bad input, wrong index, wrong model)."""

    exit_code = 1


class MissingExtraError(StoryclusterError):
    """An option needs an optional dependency that is not installed; the message names the pip extra."""

    exit_code = 2


class InputError(StoryclusterError):
    """An input file or record cannot be read; the message names the file and line."""

    exit_code = 3


class IndexNotFoundError(StoryclusterError):
    """The index directory does not exist or holds no index."""

    exit_code = 4


class IndexCorruptError(StoryclusterError):
    """The index directory exists but its files do not agree with its manifest."""

    exit_code = 5


class ModelMismatchError(StoryclusterError):
    """The index was built with another embedding model than the one asked for."""

    exit_code = 6


class IndexLockedError(StoryclusterError):
    """Another process is writing to the index."""

    exit_code = 7


class ModelLoadError(StoryclusterError):
    """The embedding model cannot be loaded (unknown name, no network for a hub model)."""

    exit_code = 8


class StoreUnavailableError(StoryclusterError):
    """The database server holding the index cannot be reached (down, wrong address, refused login)."""

    exit_code = 10
