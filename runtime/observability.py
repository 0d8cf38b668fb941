"""Logger, tracer and metrics shared by every handler (Powertools).

Only the processor records metrics (and so only its handler carries `@metrics.log_metrics`); it
sets the `environment` dimension from the settings when it runs, so importing this module needs
no configuration.
"""

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

__all__ = ["logger", "metrics", "tracer"]
