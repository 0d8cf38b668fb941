"""``python -m bench``: the benchmark suite (see BENCHMARKS.md)."""

from __future__ import annotations

import sys

from bench.suite import main

sys.exit(main())
