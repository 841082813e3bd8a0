"""Indexing engines: where articles are read and embedded (this process, or a Ray cluster).

Both answer :class:`Engine`; writing stays :meth:`StoryIndex.add` either way, so an index built by one is
the index built by the other. Ray is imported only when the Ray engine is asked for.
"""

from __future__ import annotations

from .base import Engine
from .local import LocalEngine

ENGINES = ("local", "ray")


def open_engine(name: str = "local", *, workers: int | None = None, address: str | None = None) -> Engine:
    """The engine called ``name``; ``workers`` and ``address`` are the Ray engine's (see ``engines.ray``).

    Raises :class:`~storycluster.errors.MissingExtraError` for ``ray`` without the ``[ray]`` extra, and
    ``ValueError`` for an unknown name or Ray options given to the local engine.
    """
    if name == "local":
        if workers or address:
            raise ValueError("workers and address go with the ray engine")
        return LocalEngine()
    if name == "ray":
        from .ray import RayEngine, default_workers

        return RayEngine(workers=workers or default_workers(), address=address)
    raise ValueError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")


__all__ = ["ENGINES", "Engine", "LocalEngine", "open_engine"]
