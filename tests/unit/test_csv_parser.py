"""The streaming parser takes its field rules as an object (`FieldRules`): given other rules
than the market data's, it reads the same bytes, lines and duplicates by them (no AWS)."""

from __future__ import annotations

import pytest

from runtime.logic.csv_parser import CsvFileError, CsvParser, Header, HeaderError, RowCheck
from runtime.logic.csv_rules import MARKET_DATA, parse_bytes


class _NameAndCount:
    """Toy rules: columns `name` and `count`; a name is any non-empty text, a count digits."""

    def header(self, cells: list[str]) -> Header:
        names = tuple(cell.strip() for cell in cells)
        extra = tuple(name for name in names if name not in {"name", "count"})
        if "name" not in names or "count" not in names:
            raise HeaderError(
                "NO_NAME", "name and count are required", names=names, extra_columns=extra
            )
        return Header(names, (names.index("name"), names.index("count")), extra)

    def row_check(self, header: Header) -> RowCheck:
        at_name, at_count = header.positions

        def check(cells: list[str]) -> tuple[str, str, str, str] | str:
            name, count = cells[at_name].strip(), cells[at_count].strip()
            if not name:
                return "EMPTY_NAME"
            if not count.isdigit():
                return "BAD_COUNT"
            # The key is the first two fields (name, "-"), the value the other two.
            return (name, "-", count, "")

        return check


def _parse(data: bytes) -> tuple[CsvParser, list[object], list[tuple[int, str]]]:
    rejected: list[tuple[int, str]] = []
    parser = CsvParser(
        [data[i : i + 7] for i in range(0, len(data), 7)],
        _NameAndCount(),
        on_reject=lambda line, reason, _cells: rejected.append((line, reason)),
    )
    return parser, list(parser), rejected


def test_the_parser_reads_records_by_the_rules_it_is_given() -> None:
    # Given a file for the toy rules, with a BOM, CRLF, a blank line, an extra column, a short
    # record, each toy reason, a repeat and a conflicting repeat
    data = (
        "\ufeffcount,name,note\r\n1,a,x\r\n\r\n2,b\r\nx,c,y\r\n3,,z\r\n1,a,again\r\n4,a,other\r\n"
    ).encode()

    # When parsed with those rules
    parser, rows, rejected = _parse(data)

    # Then the rows are the rules' and the reasons are the rules' and the parser's own
    assert rows == [("a", "-", "1", "")]
    assert rejected == [
        (4, "TOO_FEW_CELLS"),
        (5, "BAD_COUNT"),
        (6, "EMPTY_NAME"),
        (8, "CONFLICTING_DUPLICATE"),
    ]
    assert (parser.accepted, parser.rejected, parser.duplicates) == (1, 4, 1)
    assert parser.extra_columns == ["note"]


def test_fails_a_header_the_given_rules_refuse_naming_its_columns() -> None:
    # Given a header without the toy rules' columns / When parsed
    with pytest.raises(HeaderError) as caught:
        _parse(b"symbol,price,other\nA,1,2\n")
    # Then the file fails at line 1 with the rules' code, and the extras are kept
    assert (caught.value.code, caught.value.line) == ("NO_NAME", 1)
    assert isinstance(caught.value, CsvFileError)


def test_market_data_rules_are_what_parse_bytes_uses() -> None:
    # Given a market data file / When parsed by default and with MARKET_DATA given
    data = b"symbol,price,volume,timestamp\nabc,1.50,10,2024-01-01\nabc,x,1,2024-01-02\n"
    default = parse_bytes(data)
    given = parse_bytes(data, MARKET_DATA)
    # Then both read it the same
    assert default[1] == given[1] == [("ABC", "2024-01-01T00:00:00.000000Z", "1.5", "10")]
    assert default[2] == given[2]
