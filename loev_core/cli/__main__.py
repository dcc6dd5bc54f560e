"""`python -m loev_core.cli ...` is `loev ...` (used where the console script may not be on PATH)."""

from loev_core.cli import main

raise SystemExit(main())
