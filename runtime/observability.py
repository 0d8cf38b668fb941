"""Logger, tracer and metrics shared by every handler (Powertools).

Only the functions that finish jobs record metrics (the processor, the split finisher and the
sweeper: rows, jobs, and the job events published or failed), so only their handlers carry
`@metrics.log_metrics`; each sets the `environment` dimension from the settings when it runs, so
importing this module needs no configuration.
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
