"""The sweeper runs on the template's EventBridge schedule."""

from __future__ import annotations

import time
from typing import Any

from local_api import handler

from local.cfn import Template
from local.events import schedule_seconds, schedules_from_template
from local.lambdas import functions_from_template
from local.pipeline import LocalPipeline


def test_sweeper_runs_on_the_template_schedule(dev_template: dict[str, Any]) -> None:
    # When the schedules are read from the dev template
    (schedule,) = schedules_from_template(Template(dev_template, stack_name="t"))

    # Then the sweeper runs every five minutes
    specs = functions_from_template(Template(dev_template, stack_name="t"))
    assert specs[schedule.function_logical_id].handler == handler("sweeper")
    assert schedule.period_seconds == 300
    assert schedule_seconds("rate(1 hour)") == 3600
    assert schedule_seconds("cron(0 12 * * ? *)") is None


def test_scheduled_rule_invokes_the_sweeper_repeatedly() -> None:
    # Given a local pipeline whose schedules fire every 0.2 s instead of every 5 minutes
    with LocalPipeline.from_synthesized("dev", port=0, schedule_period_seconds=0.2) as pipeline:
        assert pipeline.lambdas is not None
        sweeper = pipeline.lambdas.by_handler(handler("sweeper"))

        # When the schedule has had time to fire a few times (bounded wait)
        deadline = time.monotonic() + 30
        while pipeline.lambdas.invocations[sweeper.logical_id] < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pipeline.lambdas.wait_idle(30)

        # Then the sweeper ran each time, without failing, and nothing else was invoked
        assert pipeline.lambdas.invocations[sweeper.logical_id] >= 3
        assert pipeline.lambdas.failures[sweeper.logical_id] == 0
        assert set(pipeline.lambdas.invocations) == {sweeper.logical_id}
