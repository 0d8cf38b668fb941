"""The sweeper runs on the template's EventBridge schedule."""

from __future__ import annotations

import time

from local.stack import LocalStack
from local.synth import SynthesizedStack


def test_scheduled_rule_invokes_the_sweeper_repeatedly(synthesized: SynthesizedStack) -> None:
    # Given a local stack whose schedules fire every 0.2 s instead of every 5 minutes
    stack = LocalStack(
        synthesized.template,
        stack_name=synthesized.stack_name,
        region=synthesized.region,
        port=0,
        schedule_period_seconds=0.2,
    )
    try:
        stack.start()
        assert stack.lambdas is not None
        sweeper = stack.lambdas.by_handler("runtime.sweeper.handler")

        # When the schedule has had time to fire a few times (bounded wait)
        deadline = time.monotonic() + 30
        while stack.lambdas.invocations[sweeper.logical_id] < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stack.lambdas.wait_idle(30)

        # Then the sweeper ran each time, without failing, and nothing else was invoked
        assert stack.lambdas.invocations[sweeper.logical_id] >= 3
        assert stack.lambdas.failures[sweeper.logical_id] == 0
        assert set(stack.lambdas.invocations) == {sweeper.logical_id}
    finally:
        stack.stop()
