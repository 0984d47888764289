"""The `rewind` command, and the server run in-process.

`run(config, exit_codeword=None)` serves a configuration (a
`configparser.ConfigParser` in the format of the original Rewind) until a
client sends the exit codeword or Ctrl-C is pressed. The configuration is
interpreted and served by the Rust core (both wire protocols), with the GIL
released while it runs, so other Python threads run freely.

`main(argv=None)` is the `rewind` command.
"""

from __future__ import annotations

import argparse
import configparser
import logging
import signal
import sys
import threading
from typing import Any, List, Optional, Sequence, Tuple

from rewind import _native
from rewind.server import config as rconfig

_logger = logging.getLogger(__name__)

#: The LMDB directory the command serves when it is given no configuration.
DEFAULT_DATA_DIR = _native._DEFAULT_DATA_DIR



def _sections(config: configparser.RawConfigParser) -> List[Tuple[str, List[Tuple[str, str]]]]:
    """The sections of a ConfigParser, values interpolated, for the core."""
    try:
        sections = [
            (name, [(key, config.get(name, key)) for key in config.options(name)])
            for name in config.sections()
        ]
        defaults = list(config.defaults().items())
    except configparser.Error as e:
        raise rconfig.ConfigurationError(str(e)) from e
    if defaults:
        sections.append(("DEFAULT", defaults))
    return sections


def _reason(e: BaseException) -> str:
    return getattr(e, "reason", None) or str(e)


def run(config: configparser.RawConfigParser, exit_codeword: Optional[str] = None) -> int:
    """Serve the configuration `config` until a client sends `exit_codeword`.

    Arguments:
    config        -- a `configparser.ConfigParser` with a `[general]`
                     section (endpoints, `storage-backend`) and the section
                     of the event store.
    exit_codeword -- a request whose first frame equals it (on the v1 query
                     or the v2 command endpoint) gets `QUIT` and stops the
                     server; used by tests.

    Returns 0 once the server stopped after the exit codeword, and 1 for a
    value of the wrong type in the configuration (such as a non-integer
    `zmq-nthreads`). Raises `ConfigurationError` for a missing `[general]`,
    a missing query (or command) endpoint, a missing or broken store section
    and an endpoint that cannot be bound. Ctrl-C stops the server gracefully
    and raises `KeyboardInterrupt`.

    A store whose class is `LMDBEventStore` or `InMemoryEventStore` is opened
    by the core; any other class (the original file stores, or a class of
    your own) is built with `construct_eventstore`, served, and closed when
    the server stops.
    """
    overrides: List[Tuple[str, Optional[str]]] = []
    if exit_codeword:
        overrides.append(("exit-codeword", exit_codeword))
    return _serve(config, overrides)


def _serve(
    config: configparser.RawConfigParser, overrides: Sequence[Tuple[str, Optional[str]]]
) -> int:
    """`run`, with the command line's options applied by the core."""
    try:
        parsed = _native.ServerConfig.from_sections(_sections(config), list(overrides))
    except _native.ConfigError as e:
        raise rconfig.ConfigurationError(_reason(e)) from None
    except _native.InvalidArgumentError as e:
        _logger.critical("%s", _reason(e))
        return 1

    python_store = None
    if parsed.store_kind == "class":
        python_store = rconfig.construct_eventstore(config, parsed.store_section)
    try:
        reason = _native.serve(parsed, python_store=python_store, on_ready=_ready)
    except _native.ConfigError as e:
        raise rconfig.ConfigurationError(_reason(e)) from None
    except _native.BindError as e:
        raise rconfig.ConfigurationError(str(e)) from None
    except _native.InvalidArgumentError as e:
        _logger.critical("%s", _reason(e))
        return 1
    finally:
        if python_store is not None:
            python_store.close()
    _logger.info("Rewind stopped (%s).", reason.replace("_", " "))
    return 0


def _ready(line: str) -> None:
    _logger.info("%s", line)


class _Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so that no
    `except Exception` on the way (a logging handler, say) swallows it."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


def _parser() -> argparse.ArgumentParser:
    """The command line, built from the options the core defines."""
    parser = argparse.ArgumentParser(
        prog="rewind",
        description="Event storage and event proxy.",
        usage="%(prog)s [configfile] [options]",
        epilog=(
            "Without a configfile, rewind serves the LMDB store in ./{0} on"
            " the default endpoints: v1 query tcp://127.0.0.1:9090, v1"
            " streaming :9091, v2 command tcp://127.0.0.1:9002, v2 publish"
            " :9003. Options override the configuration file; an empty"
            " endpoint disables it.".format(DEFAULT_DATA_DIR)
        ),
    )
    parser.add_argument(
        "configfile", nargs="?", help="a configuration file in the original Rewind format"
    )
    for name, value_name, help_text in _native.cli_flags():
        # The original named the codeword's attribute `exit_message`.
        dest = "exit_message" if name == "exit-codeword" else name.replace("-", "_")
        if value_name is None:
            parser.add_argument("--" + name, dest=dest, action="store_true", help=help_text)
        else:
            parser.add_argument(
                "--" + name, dest=dest, metavar=value_name, default=None, help=help_text
            )
    return parser


def _default_config() -> configparser.ConfigParser:
    """The embedded default, as the core defines it."""
    config = configparser.ConfigParser(inline_comment_prefixes=(";",))
    for section, options in _native._embedded_default_sections():
        config[section] = dict(options)
    return config


def _overrides(args: argparse.Namespace) -> List[Tuple[str, Optional[str]]]:
    """The options given on the command line, by name, for the core."""
    given: List[Tuple[str, Optional[str]]] = []
    for name, value_name, _ in _native.cli_flags():
        dest = "exit_message" if name == "exit-codeword" else name.replace("-", "_")
        value = getattr(args, dest)
        if value_name is None:
            if value:
                given.append((name, None))
        elif value is not None:
            given.append((name, value))
    return given


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The `rewind` command: parse the arguments and `run` the server.

    argv -- the arguments (default: `sys.argv[1:]`).

    Returns the exit code: 0 after the exit codeword, Ctrl-C or SIGTERM.
    `--help` exits (`SystemExit`) with 0, and a configuration error raises
    `ConfigurationError`, as before (the `rewind` command prints it instead).
    """
    args = _parser().parse_args(list(argv) if argv is not None else sys.argv[1:])

    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )

    if args.configfile is not None:
        config = configparser.ConfigParser(inline_comment_prefixes=(";",))
        with open(args.configfile) as f:
            config.read_file(f)
    else:
        config = _default_config()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = None
    if in_main_thread:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _serve(config, _overrides(args))
    except (KeyboardInterrupt, _Terminated):
        _logger.info("Interrupted: Rewind stopped.")
        return 0
    finally:
        if in_main_thread and previous is not None:
            signal.signal(signal.SIGTERM, previous)


def console_main() -> int:
    """The entry point of the `rewind` command: `main`, with configuration
    errors printed as one line (exit status 1) instead of a traceback."""
    try:
        return main()
    except rconfig.ConfigurationError as e:
        print("rewind: configuration error: {0}".format(e.what), file=sys.stderr)
        return 1
    except OSError as e:
        print("rewind: error: {0}".format(e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(console_main())
