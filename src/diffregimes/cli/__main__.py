"""``python -m diffregimes.cli``: the same as the ``diffregimes`` console script (:func:`diffregimes.cli.main`)."""

from __future__ import annotations

import sys

from .app import main

sys.exit(main())
