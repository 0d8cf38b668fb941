"""The app's own code beside ``app.py``: settings parsed from ``cdk.json``, the stack and its
tags.

Not part of the ``financial_pipeline`` wheel: the construct library reads no context and knows
no environments; this package does, for this repository's app only.
"""

from __future__ import annotations

from infra.config import API_GATEWAY_CLOUD_WATCH_ROLE, EnvironmentConfig, parse_environments
from infra.stack import FinancialPipelineStack
from infra.tags import tag_everything

__all__ = [
    "API_GATEWAY_CLOUD_WATCH_ROLE",
    "EnvironmentConfig",
    "FinancialPipelineStack",
    "parse_environments",
    "tag_everything",
]
