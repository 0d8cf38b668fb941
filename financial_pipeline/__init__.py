"""AWS CDK constructs for a serverless financial market CSV pipeline.

``FinancialPipeline`` is the one construct most users need; the sub-constructs and the API
schemas are exported for users who compose their own.
"""

from __future__ import annotations

from financial_pipeline.api import Api, AuthorizationMode
from financial_pipeline.api_schema import MODELS as API_MODELS
from financial_pipeline.config import EnvironmentConfig
from financial_pipeline.ingest import Ingest
from financial_pipeline.observability import Observability
from financial_pipeline.pipeline import FinancialPipeline
from financial_pipeline.stack import FinancialPipelineStack
from financial_pipeline.storage import Storage

__all__ = [
    "API_MODELS",
    "Api",
    "AuthorizationMode",
    "EnvironmentConfig",
    "FinancialPipeline",
    "FinancialPipelineStack",
    "Ingest",
    "Observability",
    "Storage",
]

__version__ = "0.1.0"
