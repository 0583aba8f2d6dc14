"""``python -m pymm``: the same as the ``pymm`` command."""

from pymm.cli import main

main()
