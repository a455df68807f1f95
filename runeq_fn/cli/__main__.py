"""``python -m runeq_fn.cli``: the ``runeq`` command line."""

from . import main

main()
