"""The API reference of `financial_pipeline`, generated from its docstrings and signatures.

Every name the package exports is documented: a construct's props (type, default and the text
of its ``Args:``), its attributes, methods and properties; an option class's fields (type,
default and the text of its ``Attributes:``); an enumeration's members. Defaults are written as
the source spells them, so the document is the same on every machine.

``python -m financial_pipeline.apidoc [PATH]`` writes it (``make apidoc``: docs/API.md); a test
checks that the file is current and that no prop or field goes undocumented.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import inspect
import re
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import financial_pipeline

__all__ = ["DOCUMENT_PATH", "build_document", "missing_descriptions"]

DOCUMENT_PATH = Path("docs") / "API.md"
_SECTION = re.compile(r"^(Args|Arguments|Attributes|Returns|Raises|Examples?):\s*$")
# Each heading's section, under the name the generator reads it by.
_SECTION_NAMES = {
    "Args": "Args",
    "Arguments": "Args",
    "Attributes": "Attribute",
    "Returns": "Return",
    "Raises": "Raise",
    "Example": "Example",
    "Examples": "Example",
}
_ENTRY = re.compile(r"^(?P<names>(?:\*\*)?[A-Za-z_]\w*(?:,\s*[A-Za-z_]\w*)*):\s?(?P<text>.*)$")


@dataclasses.dataclass
class _Doc:
    """A Google-style docstring: the text before the sections, and the entries of each."""

    text: str
    sections: dict[str, dict[str, str]]


def _parse(doc: str | None) -> _Doc:
    lines = inspect.cleandoc(doc or "").splitlines()
    text: list[str] = []
    sections: dict[str, dict[str, str]] = {}
    current: str | None = None
    name: list[str] = []
    for line in lines:
        heading = _SECTION.match(line)
        if heading:
            current = _SECTION_NAMES[heading.group(1)]
            sections.setdefault(current, {})
            name = []
            continue
        if current is None:
            text.append(line)
            continue
        # An entry starts at the section's indent (four spaces); deeper lines continue it.
        entry = _ENTRY.match(line[4:]) if line.startswith("    ") and line[4:5] != " " else None
        if entry:
            name = [n.strip() for n in entry.group("names").split(",")]
            for n in name:
                sections[current][n] = entry.group("text").strip()
        elif name and line.strip():
            for n in name:
                sections[current][n] = f"{sections[current][n]} {line.strip()}".strip()
    return _Doc("\n".join(text).strip(), sections)


def _source_defaults(cls: type) -> dict[str, str]:
    """Each field's default as the class body spells it."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0]
    assert isinstance(body, ast.ClassDef)
    return {
        node.target.id: ast.unparse(node.value)
        for node in body.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.value is not None
    }


def _default(value: Any, spelled: str | None = None) -> str:
    if value is inspect.Parameter.empty or value is dataclasses.MISSING:
        return "required"
    if isinstance(value, enum.Enum):
        return f"`{type(value).__name__}.{value.name}`"
    if value is None or isinstance(value, bool | int | float | str):
        return f"`{value!r}`"
    if isinstance(value, tuple | frozenset) and not value:
        return "`()`"
    to_human = getattr(value, "to_human_string", None)
    if callable(to_human):
        return f"{to_human()}"
    return f"`{spelled}`" if spelled else "see text"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _signature_parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    parameters = list(inspect.signature(function).parameters.values())
    return [
        p
        for p in parameters
        if p.name not in {"self", "cls", "scope", "construct_id", "id"}
        and p.kind not in {inspect.Parameter.VAR_POSITIONAL}
    ]


def _annotation(parameter: inspect.Parameter) -> str:
    if parameter.kind is inspect.Parameter.VAR_KEYWORD:
        return "deprecated keyword arguments"
    annotation = parameter.annotation
    if annotation is inspect.Parameter.empty:
        return ""
    return (
        f"`{annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)}`"
    )


def _own_members(cls: type) -> Iterator[tuple[str, Any]]:
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, property | staticmethod | classmethod) or inspect.isfunction(member):
            yield name, member


def _method_signature(name: str, function: Callable[..., Any]) -> str:
    signature = inspect.signature(function)
    parameters = [p for p in signature.parameters.values() if p.name not in {"self", "cls"}]
    rendered = []
    star = False
    for p in parameters:
        if p.kind is inspect.Parameter.KEYWORD_ONLY and not star:
            rendered.append("*")
            star = True
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            rendered.append(f"**{p.name}")
            continue
        default = "" if p.default is inspect.Parameter.empty else f"={_plain_default(p.default)}"
        rendered.append(f"{p.name}{default}")
    return f"{name}({', '.join(rendered)})"


def _plain_default(value: Any) -> str:
    text = _default(value)
    return text.strip("`") if text not in {"see text", "required"} else "..."


def _class_section(name: str, cls: type) -> list[str]:
    doc = _parse(cls.__doc__)
    lines = [f"## `{name}`", ""]
    bases = [b.__name__ for b in cls.__bases__ if b is not object]
    if bases:
        # A private module (the contract the package loads from the runtime) is shown as the
        # package, which is where users import the name from.
        module = "financial_pipeline" if "._" in cls.__module__ else cls.__module__
        lines += [f"*{', '.join(bases)}* — `{module}`", ""]
    if doc.text:
        lines += [doc.text, ""]
    if issubclass(cls, enum.Enum):
        lines += ["| Member | Value |", "|---|---|"]
        lines += [f"| `{m.name}` | `{m.value!r}` |" for m in cls]
        return [*lines, ""]
    if dataclasses.is_dataclass(cls):
        spelled = _source_defaults(cls)
        described = doc.sections.get("Attribute", {})
        lines += ["| Field | Type | Default | Description |", "|---|---|---|---|"]
        for field in dataclasses.fields(cls):
            default: Any = field.default
            if field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            lines.append(
                f"| `{field.name}` | `{_cell(str(field.type))}` "
                f"| {_cell(_default(default, spelled.get(field.name)))} "
                f"| {_cell(described.get(field.name, ''))} |"
            )
        lines.append("")
    else:
        attributes = doc.sections.get("Attribute", {})
        init = vars(cls).get("__init__")
        if init is not None:
            lines += _callable_text(init, "Prop")
        if attributes:
            lines += ["| Attribute | Description |", "|---|---|"]
            lines += [f"| `{a}` | {_cell(text)} |" for a, text in attributes.items()]
            lines.append("")
    members = list(_own_members(cls))
    if members:
        lines += ["### Methods and properties", ""]
        for member_name, member in members:
            if isinstance(member, property):
                lines += [f"- `{member_name}` (property): {_summary(member.__doc__)}"]
                continue
            function = member.__func__ if isinstance(member, staticmethod | classmethod) else member
            lines += [
                f"- `{_method_signature(member_name, function)}`: {_summary(function.__doc__)}"
            ]
        lines.append("")
    return lines


def _summary(doc: str | None) -> str:
    """The first paragraph of ``doc``, on one line."""
    first = _parse(doc).text.split("\n\n")[0]
    return " ".join(first.split())


def _function_section(name: str, function: Callable[..., Any]) -> list[str]:
    return [f"## `{_method_signature(name, function)}`", "", *_callable_text(function, "Argument")]


def _callable_text(function: Callable[..., Any], column: str) -> list[str]:
    """A constructor's or function's text, and a table of its parameters (``column``: what a
    parameter is called) with type, default and the text of its ``Args:`` entry."""
    doc = _parse(function.__doc__)
    lines = [doc.text, ""] if doc.text else []
    args = doc.sections.get("Args", {})
    parameters = _signature_parameters(function)
    if not parameters:
        return lines
    lines += [f"| {column} | Type | Default | Description |", "|---|---|---|---|"]
    for p in parameters:
        keywords = p.kind is inspect.Parameter.VAR_KEYWORD
        label = f"**{p.name}" if keywords else p.name
        default = "" if keywords else _default(p.default)
        lines.append(
            f"| `{label}` | {_cell(_annotation(p))} | "
            f"{_cell(default)} | {_cell(args.get(label, ''))} |"
        )
    return [*lines, ""]


def _exported() -> list[tuple[str, Any]]:
    return [(name, getattr(financial_pipeline, name)) for name in financial_pipeline.__all__]


def build_document() -> str:
    """The reference as Markdown."""
    package = _parse(financial_pipeline.__doc__)
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings by `make apidoc` (`python -m financial_pipeline.apidoc`);",
        "a test fails when it is not current. Names are those `financial_pipeline` exports.",
        "",
        package.text,
        "",
    ]
    for name, value in _exported():
        if inspect.isclass(value):
            lines += _class_section(name, value)
        elif inspect.isfunction(value):
            lines += _function_section(name, value)
        else:
            lines += [f"## `{name}`", "", f"`{value!r}`", ""]
    return "\n".join(lines).rstrip() + "\n"


def missing_descriptions(exported: Sequence[tuple[str, Any]] | None = None) -> list[str]:
    """Props, option fields and function arguments the docstrings do not describe, of
    ``exported`` (name, object) pairs; default: what the package exports."""
    missing = []
    for name, value in _exported() if exported is None else exported:
        if inspect.isclass(value) and dataclasses.is_dataclass(value):
            described = _parse(value.__doc__).sections.get("Attribute", {})
            missing += [
                f"{name}.{f.name}" for f in dataclasses.fields(value) if f.name not in described
            ]
        elif inspect.isclass(value) and not issubclass(value, enum.Enum):
            init = vars(value).get("__init__")
            if init is None:
                continue
            args = _parse(init.__doc__).sections.get("Args", {})
            missing += [
                f"{name}({p.name})"
                for p in _signature_parameters(init)
                if (f"**{p.name}" if p.kind is inspect.Parameter.VAR_KEYWORD else p.name)
                not in args
            ]
        elif inspect.isfunction(value):
            args = _parse(value.__doc__).sections.get("Args", {})
            missing += [
                f"{name}({p.name})" for p in _signature_parameters(value) if p.name not in args
            ]
    return missing


def main(argv: list[str]) -> None:
    path = Path(argv[1]) if len(argv) > 1 else DOCUMENT_PATH
    path.write_text(build_document())
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv)
