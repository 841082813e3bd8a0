"""The index: ``StoryIndex``, the one entry point that ties reading, embedding, storage and stories together."""

from .story_index import AddReport, Encoder, Level, StoryIndex

__all__ = ["AddReport", "Encoder", "Level", "StoryIndex"]
