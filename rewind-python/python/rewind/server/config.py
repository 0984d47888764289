"""Configuration file utilities of the Rewind server.

`construct_eventstore` builds the event store a configuration names, and
`check_config_options` helps an event store's ``from_config`` check the
options of its section. Both are public API: an event store of your own may
use them to build the stores it wraps.

The parts the event stores themselves need (`ConfigurationError`,
`check_config_options`, building the store of one section) live in
`rewind.server._storeconfig`, which imports no store; this module adds the
choice of the store section from `[general]`, and the in-memory store used
when there is none. So this module imports the event stores and they never
import it: there is no import cycle, and either may be imported first.
"""

from __future__ import annotations

import configparser
import logging
from typing import Any, Optional

from rewind.server._storeconfig import (
    ConfigurationError,
    check_config_options,
    construct_section,
)

# Names this module defined before `_storeconfig` existed, kept importable.
from rewind.server._storeconfig import CLASS_OPTION as _CLASS_OPTION  # noqa: F401
from rewind.server._storeconfig import ClassImportError as _ClassImportError  # noqa: F401
from rewind.server._storeconfig import ClassMissingError as _ClassMissingError  # noqa: F401
from rewind.server._storeconfig import load_class as _load_class  # noqa: F401
from rewind.server.eventstores import InMemoryEventStore

__all__ = [
    "DEFAULT_SECTION",
    "ConfigurationError",
    "check_config_options",
    "construct_eventstore",
]

_logger = logging.getLogger(__name__)

#: The section that holds the server's own options.
DEFAULT_SECTION = "general"


def _in_memory_fallback() -> InMemoryEventStore:
    _logger.warning(
        "Using InMemoryEventStore. Events are not persisted."
        " See the example configuration on how to persist them."
    )
    return InMemoryEventStore()


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

    return construct_section(config, section)
