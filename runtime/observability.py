"""Logger, tracer and metrics shared by every handler (Powertools)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "financial-pipeline")

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(
    service=SERVICE,
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "FinancialPipeline"),
)
metrics.set_default_dimensions(environment=os.environ.get("ENVIRONMENT", "dev"))

__all__ = ["logger", "metrics", "tracer"]
