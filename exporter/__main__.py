"""`python -m exporter`: the homelab-exporter command line."""

from exporter.cli import main

raise SystemExit(main())
