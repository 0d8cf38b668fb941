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


def test_the_readme_names_every_field_of_every_option_class() -> None:
    import dataclasses

    import financial_pipeline

    text = (REPO / "README.md").read_text()
    rows = {
        m.group(1): set(re.findall(r"`([a-z_]+)`", m.group(2)))
        for m in re.finditer(
            r"^\| `[a-z_]+_options` \| `([A-Za-z]+Options)` \| (.*) \|$", text, re.M
        )
    }
    option_classes = [
        "ApiOptions",
        "IngestOptions",
        "SplitOptions",
        "StorageOptions",
        "HardeningOptions",
        "ObservabilityOptions",
        "LambdaOptions",
    ]
    assert sorted(rows) == sorted(option_classes)
    for name in option_classes:
        fields = {f.name for f in dataclasses.fields(getattr(financial_pipeline, name))}
        assert fields <= rows[name], (name, sorted(fields - rows[name]))
