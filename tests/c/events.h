/* Building the arguments of typed appends for the C tests: one event
 * (rewind_new_event_ex) and one stream's part of an append_multi.
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#ifndef REWIND_TEST_EVENTS_H
#define REWIND_TEST_EVENTS_H

#include <stdint.h>
#include <string.h>

#include "rewind.h"

/* An event with an id (NULL: generated), a type and metadata (NULL: none),
 * and data; every pointer is borrowed. */
static rewind_new_event_ex typed(const char *id, const char *type, const char *metadata,
                                 const char *data) {
  rewind_new_event_ex e;
  memset(&e, 0, sizeof e);
  e.id = (const uint8_t *)id;
  e.id_len = id ? strlen(id) : 0;
  e.event_type = (const uint8_t *)type;
  e.event_type_len = type ? strlen(type) : 0;
  e.metadata = (const uint8_t *)metadata;
  e.metadata_len = metadata ? strlen(metadata) : 0;
  e.data = (const uint8_t *)data;
  e.data_len = strlen(data);
  return e;
}

static rewind_stream_append part(const char *stream, rewind_expected_kind kind, uint64_t version,
                                 const rewind_new_event_ex *events, size_t n) {
  rewind_stream_append p;
  memset(&p, 0, sizeof p);
  p.stream = (const uint8_t *)stream;
  p.stream_len = strlen(stream);
  p.expected = kind;
  p.expected_version = version;
  p.events = events;
  p.n_events = n;
  return p;
}

#endif
