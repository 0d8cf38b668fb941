"""AWS CDK constructs for a serverless financial market CSV pipeline.

``FinancialPipeline`` is the one construct most users need; the sub-constructs and their
option types are exported for users who compose their own.
"""

from __future__ import annotations

from financial_pipeline.api import Api, AuthorizationMode
from financial_pipeline.contract import JobEventType, JobStatus
from financial_pipeline.firewall import Firewall
from financial_pipeline.function import FunctionOptions, PipelineFunction
from financial_pipeline.ingest import Ingest
from financial_pipeline.job_events import JOB_EVENT_DETAIL_TYPES, job_events_pattern
from financial_pipeline.network import Network
from financial_pipeline.observability import Observability
from financial_pipeline.pipeline import FinancialPipeline, Profile
from financial_pipeline.split import SplitProcessing
from financial_pipeline.storage import Storage

__all__ = [
    "JOB_EVENT_DETAIL_TYPES",
    "Api",
    "AuthorizationMode",
    "FinancialPipeline",
    "Firewall",
    "FunctionOptions",
    "Ingest",
    "JobEventType",
    "JobStatus",
    "Network",
    "Observability",
    "PipelineFunction",
    "Profile",
    "SplitProcessing",
    "Storage",
    "job_events_pattern",
]

__version__ = "0.1.0"
