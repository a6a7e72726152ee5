"""The madash-build command line: parse arguments, call one function, map errors to exit codes.

This package is the only place that prints or exits. Exit codes: 0 ok, 1
operational error, 2 usage or bad input. Messages of the other modules reach the
user through logging: warnings always, every command run and its duration with
--debug.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable, Sequence

from madash.cli.commands import PROG
from madash.cli.output import one_line
from madash.errors import MadashError, ToolError


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{PROG}: {record.levelname.lower()}: {one_line(record.getMessage())}"


def _logging(debug: bool) -> None:
    logger = logging.getLogger("madash")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    from madash.cli.parser import build_parser

    arguments = list(sys.argv[1:] if argv is None else argv)
    # Only for a traceback of an error argparse itself raises; the parsed value decides otherwise.
    debug = "--debug" in arguments
    _logging(debug)
    try:
        args = build_parser().parse_args(arguments)
        debug = bool(args.debug)
        _logging(debug)
        func: Callable[..., int] = args.func
        return func(args)
    except MadashError as exc:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {one_line(exc.message)}", file=sys.stderr)
        hint = exc.hint
        if isinstance(exc, ToolError) and exc.command and not hint:
            hint = f"the command was: {exc.shell_command()}"
        if hint:
            print(f"{PROG}: hint: {one_line(hint)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except RecursionError:
        print(f"{PROG}: error: the input is nested too deeply", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: say so briefly, show details with --debug
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: internal error: {one_line(repr(exc))} (run with --debug for details)", file=sys.stderr)
        return 1
