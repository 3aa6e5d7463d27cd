"""`python -m gateway`: the same command line as `notification-gateway`."""

from __future__ import annotations

import sys

from gateway.cli import main

sys.exit(main())
