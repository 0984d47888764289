"""What event stores need from the configuration file.

`ConfigurationError`, `check_config_options` (for a store's `from_config`),
loading a configured class by its path, and `construct_section`, which
builds the store one named section describes (a store that wraps others,
such as `SyncedRotationEventStores`, builds them with it).

This module imports no event store, so that every event store module may
import it; `rewind.server.config`, the public face of the configuration,
re-exports it and adds what needs a store of its own (the in-memory store a
configuration without `storage-backend` falls back to).
"""

from __future__ import annotations

import configparser
import importlib
import logging
from typing import Any, Iterable, Mapping

# The logger of `rewind.server.config`, where these functions were defined
# originally: configurations that filter its records keep working.
_logger = logging.getLogger("rewind.server.config")

CLASS_OPTION = "class"


class ConfigurationError(Exception):
    """The configuration is wrong; `what` says how."""

    # Public as `rewind.server.config.ConfigurationError`, as before.
    __module__ = "rewind.server.config"

    def __init__(self, what: Any) -> None:
        super().__init__(what)
        self.what = what

    def __str__(self) -> str:
        return repr(self.what)


class ClassImportError(ConfigurationError, ImportError):
    """The module of a configured class could not be imported."""


class ClassMissingError(ConfigurationError, AttributeError):
    """The module of a configured class has no such class."""


def load_class(classpath: str) -> Any:
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
        raise ClassImportError(
            "Could not import module `{0}`: {1}".format(modulepath, e)
        ) from e
    try:
        return getattr(module, classname)
    except AttributeError:
        raise ClassMissingError(
            "Module `{0}` has no class `{1}`.".format(modulepath, classname)
        ) from None


def construct_section(config: configparser.RawConfigParser, section: str) -> Any:
    """Construct the event store that section `section` of `config`
    describes: its `class` option is the full path of the store class, and
    every other option is passed to the class's
    `from_config(config, **options)`.

    Raises `ConfigurationError` for a missing section, a missing `class`, a
    class that cannot be imported (the error is also an `ImportError` or
    `AttributeError`), or options the class rejects.
    """
    if section not in config.sections():
        raise ConfigurationError(
            "The section for event store does not exist: {0}".format(section)
        )
    if not config.has_option(section, CLASS_OPTION):
        raise ConfigurationError(
            "Configuration option `class` missing for section `{0}`.".format(section)
        )

    _class = load_class(config.get(section, CLASS_OPTION))
    options = {
        option: config.get(section, option)
        for option in config.options(section)
        if option != CLASS_OPTION
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
