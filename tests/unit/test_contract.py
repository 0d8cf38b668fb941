"""One contract across the layers: the construct, the Lambda code, the API schema, the client.

The construct library and the Lambda code read the same file (`runtime/contract.py`); `fpipe`
ships on its own and names the statuses itself. These tests check each consumer against the
contract rather than against literals restated here.
"""

from __future__ import annotations

import pytest

import fpipe.cli
from runtime import contract


def test_r2_client_knows_exactly_the_contracts_final_statuses() -> None:
    # Given the statuses fpipe waits for, and the contract's
    # Then they are the same set, and the client's successes are final ones
    assert {str(s) for s in contract.FINAL_STATUSES} == fpipe.cli.FINAL_STATUSES
    assert {
        contract.JobStatus.COMPLETED,
        contract.JobStatus.COMPLETED_WITH_ERRORS,
    } == fpipe.cli.SUCCESS_STATUSES


def test_r2_every_status_but_the_first_two_is_final() -> None:
    statuses = list(contract.JobStatus)
    assert statuses[:2] == [contract.JobStatus.PENDING_UPLOAD, contract.JobStatus.PROCESSING]
    assert set(statuses[2:]) == contract.FINAL_STATUSES


def test_r27_every_final_status_has_its_event_detail_type() -> None:
    # Given each final status / Then it maps to the detail-type the issue names
    assert {status: contract.event_type_for(status) for status in contract.FINAL_STATUSES} == {
        contract.JobStatus.COMPLETED: "Job Completed",
        contract.JobStatus.COMPLETED_WITH_ERRORS: "Job Completed",
        contract.JobStatus.FAILED: "Job Failed",
        contract.JobStatus.EXPIRED: "Job Expired",
    }


def test_fails_r27_a_status_that_is_not_final_has_no_event() -> None:
    for status in (contract.JobStatus.PENDING_UPLOAD, contract.JobStatus.PROCESSING):
        with pytest.raises(ValueError, match="not a final status"):
            contract.event_type_for(status)
