from __future__ import annotations

from fpipe.cli import main

raise SystemExit(main())
