"""The HTTP service (FastAPI on uvicorn): a thin layer over ``StoryIndex``; needs the ``serve`` extra."""

from .app import create_app, serve

__all__ = ["create_app", "serve"]
