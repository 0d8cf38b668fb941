"""Logger, tracer and metrics shared by every handler (Powertools)."""

from __future__ import annotations

import os
import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "financial-pipeline")

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(
    service=SERVICE,
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "FinancialPipeline"),
)
metrics.set_default_dimensions(environment=os.environ.get("ENVIRONMENT", "dev"))

EMPTY_METRICS_WARNING = "No application metrics to publish"


def expect_no_metrics() -> None:
    """Declare, in the module of a handler that records no application metric, that Powertools'
    empty-metrics `UserWarning` is expected there. This is the filter the Powertools metrics
    documentation gives for it; it matches that message only, so every other warning (and the
    processor's, which records metrics) still shows. Each function imports one handler module.
    """
    warnings.filterwarnings("ignore", message=EMPTY_METRICS_WARNING, category=UserWarning)


__all__ = ["expect_no_metrics", "logger", "metrics", "tracer"]
