"""``python -m storycluster``: the same as the ``storycluster`` command."""

from .cli import main

main()
