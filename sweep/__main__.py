"""``python -m sweep``: the ``hopsweep`` command."""

from .cli import main

raise SystemExit(main())
