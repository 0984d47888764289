"""Configuration file utilities of the Rewind server.

`construct_eventstore` builds the event store a configuration names, and
`check_config_options` helps an event store's ``from_config`` check the
options of its section. Both are public API: an event store of your own may
use them to build the stores it wraps.
"""

from __future__ import annotations

import configparser
import importlib
import logging
from typing import Any, Iterable, Mapping, Optional

_logger = logging.getLogger(__name__)

#: The section that holds the server's own options.
DEFAULT_SECTION = "general"

_CLASS_OPTION = "class"


class ConfigurationError(Exception):
    """The configuration is wrong; `what` says how."""

    def __init__(self, what: Any) -> None:
        super().__init__(what)
        self.what = what

    def __str__(self) -> str:
        return repr(self.what)


class _ClassImportError(ConfigurationError, ImportError):
    """The module of a configured class could not be imported."""


class _ClassMissingError(ConfigurationError, AttributeError):
    """The module of a configured class has no such class."""


def _in_memory_fallback() -> Any:
    _logger.warning(
        "Using InMemoryEventStore. Events are not persisted."
        " See the example configuration on how to persist them."
    )
    from rewind.server.eventstores import InMemoryEventStore

    return InMemoryEventStore()


def _load_class(classpath: str) -> Any:
    """Imports `package.module.Class` and returns the class."""
    modulepath, _, classname = classpath.strip().rpartition(".")
    if not modulepath or not classname:
        raise ConfigurationError(
            "The event store class must be a full path such as"
            " `package.module.Class`: {0}".format(classpath)
        )
    try:
        module = importlib.import_module(modulepath)
    except ImportError as e:
        raise _ClassImportError(
            "Could not import module `{0}`: {1}".format(modulepath, e)
        ) from e
    try:
        return getattr(module, classname)
    except AttributeError:
        raise _ClassMissingError(
            "Module `{0}` has no class `{1}`.".format(modulepath, classname)
        ) from None


def construct_eventstore(
    config: Optional[configparser.RawConfigParser], section: Optional[str] = None
) -> Any:
    """Construct the event store a configuration describes.

    Arguments:
    config  -- a `configparser.RawConfigParser` (or subclass), or None for an
               `InMemoryEventStore`.
    section -- the section that configures the store. By default, the one
               `storage-backend` in `[general]` names; without that option,
               an `InMemoryEventStore` is used (and a warning logged).

    The section's `class` option is the full path of the store class; every
    other option of the section is passed to the class's
    `from_config(config, **options)`.

    Raises `ConfigurationError` for a missing `[general]` (when no section is
    given), a missing section, a missing `class`, a class that cannot be
    imported (the error is also an `ImportError` or `AttributeError`, as
    before), or options the class rejects.
    """
    if config is None:
        return _in_memory_fallback()

    if section is None:
        if DEFAULT_SECTION not in config.sections():
            raise ConfigurationError(
                "Missing default section, `{0}`.".format(DEFAULT_SECTION)
            )
        if not config.has_option(DEFAULT_SECTION, "storage-backend"):
            return _in_memory_fallback()
        section = config.get(DEFAULT_SECTION, "storage-backend").strip()

    if section not in config.sections():
        raise ConfigurationError(
            "The section for event store does not exist: {0}".format(section)
        )
    if not config.has_option(section, _CLASS_OPTION):
        raise ConfigurationError(
            "Configuration option `class` missing for section `{0}`.".format(section)
        )

    _class = _load_class(config.get(section, _CLASS_OPTION))
    options = {
        option: config.get(section, option)
        for option in config.options(section)
        if option != _CLASS_OPTION
    }
    try:
        return _class.from_config(config, **options)
    except ConfigurationError as e:
        raise ConfigurationError(
            "Could not instantiate `{0}`: {1}".format(_class, e.what)
        ) from e


def check_config_options(
    _class: Any,
    required_options: Iterable[str],
    optional_options: Iterable[str],
    options: Mapping[str, Any],
) -> None:
    """Check the options given to an event store's `from_config`.

    Arguments:
    _class           -- the class (or its name) the options are for; used in
                        messages.
    required_options -- the options that must be present.
    optional_options -- the options that may be present.
    options          -- the options given (a mapping, or any iterable of
                        option names).

    Raises `ConfigurationError` if a required option is missing. Options
    that are neither required nor optional are logged as warnings and
    otherwise ignored.
    """
    required = tuple(required_options)
    known = required + tuple(optional_options)
    for opt in required:
        if opt not in options:
            raise ConfigurationError("Required option missing: {0}".format(opt))
    for opt in options:
        if opt not in known:
            _logger.warning("Unknown config option to `%s`: %s", _class, opt)
