"""The README's tables of cdk.json keys are the keys the app reads."""

from __future__ import annotations

import re

from infra import config
from tests.infra.conftest import REPO


def _keys_of_table(section: str, first_column: str) -> set[str]:
    text = (REPO / "README.md").read_text()
    start = text.index(section)
    rows = []
    in_table = False
    for line in text[start:].splitlines()[1:]:
        if line.startswith(f"| {first_column} |"):
            in_table = True
            continue
        if in_table:
            if not line.startswith("|"):
                break
            rows.append(line)
    return {m.group(1) for row in rows if (m := re.match(r"\| `([A-Za-z]+)`", row))}


def test_the_readme_lists_every_environment_key_the_app_reads() -> None:
    documented = _keys_of_table("## Deploy per environment", "key")
    assert documented == set(config._KEYS)
