"""``python -m pipeline``: the same as the ``gjj`` command (helper processes are started this way)."""

from pipeline.cli import main

main()
