"""`python -m comet_core` runs the command line."""

from comet_core.cli import main

raise SystemExit(main())
