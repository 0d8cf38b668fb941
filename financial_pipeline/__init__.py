"""AWS CDK constructs for a serverless financial market CSV pipeline.

``FinancialPipeline`` is the one construct most users need; the sub-constructs and their
option types are exported for users who compose their own.
"""

from __future__ import annotations

from importlib import metadata

from financial_pipeline.api import Api, AuthorizationMode
from financial_pipeline.contract import JobEventType, JobStatus, Metric
from financial_pipeline.firewall import Firewall
from financial_pipeline.function import FunctionOptions, PipelineFunction
from financial_pipeline.ingest import Ingest
from financial_pipeline.job_events import JOB_EVENT_DETAIL_TYPES, job_events_pattern
from financial_pipeline.network import Network
from financial_pipeline.observability import Observability
from financial_pipeline.options import (
    ApiOptions,
    HardeningOptions,
    IngestOptions,
    LambdaOptions,
    ObservabilityOptions,
    SplitOptions,
    StorageOptions,
)
from financial_pipeline.pipeline import FinancialPipeline, PipelineOptions, Profile
from financial_pipeline.split import SplitProcessing
from financial_pipeline.storage import Storage

__all__ = [
    "JOB_EVENT_DETAIL_TYPES",
    "Api",
    "ApiOptions",
    "AuthorizationMode",
    "FinancialPipeline",
    "Firewall",
    "FunctionOptions",
    "HardeningOptions",
    "Ingest",
    "IngestOptions",
    "JobEventType",
    "JobStatus",
    "LambdaOptions",
    "Metric",
    "Network",
    "Observability",
    "ObservabilityOptions",
    "PipelineFunction",
    "PipelineOptions",
    "Profile",
    "SplitOptions",
    "SplitProcessing",
    "Storage",
    "StorageOptions",
    "job_events_pattern",
]

try:
    __version__ = metadata.version("financial-pipeline")
except metadata.PackageNotFoundError:  # a checkout on sys.path, never installed
    __version__ = "0+unknown"
