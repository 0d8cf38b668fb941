"""Command-line client of the financial pipeline API (``fpipe``)."""

from __future__ import annotations

from fpipe.client import ApiError, Client, aws_region

__all__ = ["ApiError", "Client", "aws_region"]
