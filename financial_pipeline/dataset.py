"""Datasets: a name, a Frictionless Table Schema and a CSV dialect, checked at synth by the very
compiler the functions run (``runtime/logic/schema.py``, shipped with them).

A schema the pipeline cannot take (a feature it does not support, a key field that is not
required, a bound that is not of its field's type) is a `ValueError` naming the dataset, the
field and the feature, at synth, never at the first upload. `TRADES` is the market data the
pipeline was built for (``runtime/schemas/trades.json``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from financial_pipeline._runtime import load_shipped, runtime_source_dir

if TYPE_CHECKING:
    from runtime.logic import schema as _schema
else:
    _schema = load_shipped("financial_pipeline._shipped_schema", "logic/schema.py")

__all__ = ["TRADES", "Dataset"]

_NAME: Final = re.compile(r"[a-z][a-z0-9-]{0,31}")
_DELIMITERS: Final = frozenset(",;\t|")


@dataclass(frozen=True)
class Dataset:
    """A feed the pipeline validates and stores: rows of a Table Schema.

    Attributes:
        name: 1-32 lowercase letters, digits or ``-``, starting with a letter; names the
            dataset in the API (``"dataset"`` of an upload) and its table.
        schema: the Table Schema (https://specs.frictionlessdata.io/table-schema/): a JSON
            file's path or the document as a mapping. See `runtime.logic.schema` for what is
            supported; anything else is refused by name.
        delimiter: the cell delimiter of the dataset's files: ``,`` (default), ``;``, a tab
            or ``|``.
    """

    name: str
    schema: str | Path | Mapping[str, Any]
    delimiter: str = ","
    table_schema: Mapping[str, Any] = field(init=False, repr=False, compare=False)
    _compiled: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(
                "a dataset name is 1-32 lowercase letters, digits or '-', starting with a "
                f"letter (got {self.name!r})"
            )
        if self.delimiter not in _DELIMITERS:
            raise ValueError(
                f"dataset {self.name!r}: delimiter must be one of ',', ';', tab or '|' "
                f"(got {self.delimiter!r})"
            )
        document = _read(self.name, self.schema)
        try:
            compiled = _schema.compile_schema(document, delimiter=self.delimiter)
        except _schema.SchemaError as error:
            raise ValueError(f"dataset {self.name!r}: {error}") from None
        object.__setattr__(self, "table_schema", document)
        object.__setattr__(self, "_compiled", compiled)

    @property
    def key_fields(self) -> tuple[str, ...]:
        """The primary key: the partition key, then the sort key when there is one."""
        keys: tuple[str, ...] = self._compiled.key_fields
        return keys

    @property
    def field_names(self) -> tuple[str, ...]:
        """Every field, in the schema's order."""
        names: tuple[str, ...] = self._compiled.field_names
        return names


def _read(name: str, schema: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(schema, Mapping):
        copied: dict[str, Any] = json.loads(json.dumps(schema))  # a plain, JSON-shaped copy
        return copied
    path = Path(schema)
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise ValueError(f"dataset {name!r}: cannot read its schema {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"dataset {name!r}: its schema {path} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise ValueError(f"dataset {name!r}: its schema {path} is not a JSON object")
    return document


TRADES: Final = Dataset("trades", schema=runtime_source_dir() / "schemas" / "trades.json")
"""The market data (symbol, price, volume, timestamp; key symbol and timestamp)."""
