"""The app's own code beside ``app.py``: settings parsed from ``cdk.json`` and the stack.

Not part of the ``financial_pipeline`` wheel: the construct library reads no context and knows
no environments; this package does, for this repository's app only.
"""

from __future__ import annotations

from infra.config import EnvironmentConfig, parse_environments
from infra.stack import FinancialPipelineStack

__all__ = ["EnvironmentConfig", "FinancialPipelineStack", "parse_environments"]
