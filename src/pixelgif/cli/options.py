"""Argument types, schema options as flags, and error handling shared by the commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..options import Option


def format_name(text: str) -> str:
    """Return the format called ``text`` (an argparse type)."""
    from ..encode import lookup

    try:
        return lookup(text).name
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def format_help() -> str:
    """Return the --format help: every format with its description."""
    from ..encode import FORMATS

    return "; ".join(f"{f.name}: {f.description}" for f in FORMATS.values()) + " (default: from -o)"


def one_line_error(parser):
    """Return an argparse ``error`` that prints one line and exits 2, as every other error is one line."""

    def error(message: str):
        print(f"{parser.prog}: error: {message} (see {parser.prog} --help)", file=sys.stderr)
        sys.exit(2)

    return error


def whole_number(
    text: str, low: int = 1, high: int | None = None, name: str = "", words: tuple[str, ...] = ()
) -> int | str:
    """Return ``text`` as a whole number from ``low`` to ``high`` (or ``text`` itself when it is one of
    ``words``, e.g. "auto"); else raise argparse's one-line error naming ``name``."""
    if text in words:
        return text
    try:
        value: int | None = int(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        rule = f"a number from {low} to {high}" if high is not None else f"a whole number of at least {low}"
        either = "".join(f"{word} or " for word in words)
        raise argparse.ArgumentTypeError(f"{name + ' ' if name else ''}must be {either}{rule}, got {text!r}")
    return value


def argument_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """Return ``parse`` as an argparse type: its ValueError message becomes the one-line error
    (int and float keep argparse's own "invalid int value" wording)."""
    if parse in (int, float):
        return parse

    def parse_argument(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse_argument.__name__ = parse.__name__
    return parse_argument


def add_option(group, option: Option, default: Any = None) -> None:
    """Add the flag of schema ``option`` to ``group`` (None default: "not given", so a settings file's
    value or the config's default applies)."""
    kwargs: dict[str, Any] = {"dest": option.name, "default": default, "help": option.help_text()}
    if option.kind == "switch":
        kwargs["action"] = argparse.BooleanOptionalAction
    else:
        if option.kind == "list":
            kwargs["action"] = "append"
        if option.type is not None:
            kwargs["type"] = argument_type(option.type)
        if option.choices is not None:
            kwargs["choices"] = option.choices
        else:
            kwargs["metavar"] = option.metavar
    group.add_argument(*option.flags, **kwargs)


def add_options(parser: argparse.ArgumentParser, options: Iterable[Option]) -> dict[str, argparse._ArgumentGroup]:
    """Add ``options`` (schema entries) to ``parser`` in their --help groups; return the groups by title."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for option in options:
        if option.group not in groups:
            groups[option.group] = parser.add_argument_group(option.group)
        add_option(groups[option.group], option)
    return groups
