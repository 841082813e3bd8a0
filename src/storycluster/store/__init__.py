"""Storage of an index: a directory (manifest, SQLite, FAISS files) or PostgreSQL with pgvector.

``open_store`` picks the kind from the location; both kinds answer the protocols of ``base.py``, so the code
above them runs unchanged on either. psycopg is imported only for a ``postgresql://`` location.
"""

from .base import IndexSnapshot, IndexStore, is_database_url, open_store, resolve_location
from .database import Database, Filters
from .directory import MANIFEST, IndexDirectory
from .manifest import FORMAT_VERSION, Manifest

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST",
    "Database",
    "Filters",
    "IndexDirectory",
    "IndexSnapshot",
    "IndexStore",
    "Manifest",
    "is_database_url",
    "open_store",
    "resolve_location",
]
