"""``python -m sdk``: the same as the ``sdk`` command."""

from sdk.cli import main

main()
