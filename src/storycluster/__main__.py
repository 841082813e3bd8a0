"""``python -m storycluster``: the same as the ``storycluster`` command."""

from .cli.main import main

main()
