"""The whole pipeline on one machine, driven by the synthesized CloudFormation template.

Not part of the published package: it imports the handlers from this checkout.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Importing the construct library starts jsii, which runs the first `node` on PATH: make it the
# virtualenv's (as under make), and keep jsii's Node version notices out of the output.
_BIN = str(Path(sys.executable).parent)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
