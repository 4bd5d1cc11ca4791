"""``python -m selrob`` -> the command line."""

from selrob.cli import main

raise SystemExit(main())
