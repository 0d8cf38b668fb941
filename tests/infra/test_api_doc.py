"""docs/API.md is generated from the docstrings (`make apidoc`): it must be current, and no
prop, option field or argument of an exported name may go undocumented."""

from __future__ import annotations

from dataclasses import dataclass

from financial_pipeline import apidoc
from tests.infra.conftest import REPO


def test_the_api_reference_is_current() -> None:
    current = (REPO / apidoc.DOCUMENT_PATH).read_text()
    assert current == apidoc.build_document(), "docs/API.md is stale: run `make apidoc`"


def test_every_prop_field_and_argument_is_described() -> None:
    assert apidoc.missing_descriptions() == []


def test_an_undescribed_field_or_argument_is_named() -> None:
    @dataclass
    class Options:
        """Options.

        Attributes:
            described: it is.
        """

        described: int = 1
        forgotten: int = 2

    def build(first: int, second: int = 0) -> None:
        """Build.

        Args:
            first: the first.
        """

    assert apidoc.missing_descriptions([("Options", Options), ("build", build)]) == [
        "Options.forgotten",
        "build(second)",
    ]


def test_the_reference_documents_each_option_and_its_default() -> None:
    document = apidoc.build_document()
    # A field's row: its type, its default as written, and its text
    assert "| `sweep_interval` | `Duration` | 5 minutes | how often the sweeper" in document
    assert "| `authorization` | `AuthorizationMode | str` | `AuthorizationMode.IAM` |" in (
        document.replace("\\|", "|")
    )
    assert "- `grant_invoke_api(grantee, *, method='*', path='/*')`:" in document
