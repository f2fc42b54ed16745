"""``python -m proctrail.app.cli``: the console script without its launcher."""

from proctrail.app.cli import main

raise SystemExit(main())
