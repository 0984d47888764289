/* A program that uses an installed librewind the way its users do: built
 * with `pkg-config --cflags --libs rewind` (or rewind-static) against the
 * librewind tarball, by tests/packaging/run.sh. It appends and reads in a
 * store, starts a server on a wildcard port and asks where it listens.
 * Prints "ok <endpoint>" and exits 0 when all went well.
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include <rewind.h>

#define TRY(call)                                                                 \
  do {                                                                            \
    rewind_status st_ = (call);                                                   \
    if (st_ != REWIND_STATUS_OK) {                                                \
      fprintf(stderr, "%s: %s (%s)\n", #call, rewind_last_error_message(),        \
              rewind_status_text(st_));                                           \
      return 1;                                                                   \
    }                                                                             \
  } while (0)

int main(void) {
  rewind_store *store = NULL;
  rewind_events *events = NULL;
  rewind_server_options *options = NULL;
  rewind_server *server = NULL;
  rewind_server_state state = REWIND_SERVER_STATE_RUNNING;
  const char *query = NULL;
  rewind_new_event event = {NULL, 0, (const uint8_t *)"installed", 9};

  if (strcmp(rewind_version(), REWIND_TEST_VERSION) != 0) {
    fprintf(stderr, "librewind %s, wanted %s\n", rewind_version(), REWIND_TEST_VERSION);
    return 1;
  }
  TRY(rewind_store_open_in_memory(&store));
  TRY(rewind_store_append(store, (const uint8_t *)"s", 1, &event, 1, REWIND_EXPECTED_NO_STREAM,
                          0, NULL));
  TRY(rewind_store_read_stream(store, (const uint8_t *)"s", 1, 0, SIZE_MAX, &events));
  if (rewind_events_count(events) != 1 || rewind_events_at(events, 0)->data_len != 9) {
    fprintf(stderr, "read back the wrong events\n");
    return 1;
  }
  rewind_events_free(events);
  /* A name of the wrong length is refused by reads too. */
  if (rewind_store_read_stream(store, (const uint8_t *)"", 0, 0, 1, &events) !=
      REWIND_STATUS_INVALID_ARGUMENT) {
    fprintf(stderr, "an empty stream name was not refused\n");
    return 1;
  }

  TRY(rewind_server_options_new(&options));
  TRY(rewind_server_options_set_query_endpoints(options, "tcp://127.0.0.1:*"));
  TRY(rewind_server_options_set_streaming_endpoints(options, ""));
  TRY(rewind_server_options_set_command_endpoints(options, ""));
  TRY(rewind_server_options_set_publish_endpoints(options, ""));
  TRY(rewind_server_start(store, options, &server));
  rewind_server_options_free(options);
  TRY(rewind_server_endpoints(server, REWIND_ENDPOINT_QUERY, &query));
  if (strncmp(query, "tcp://127.0.0.1:", 16) != 0 || strchr(query, '*') != NULL) {
    fprintf(stderr, "unexpected endpoint %s\n", query);
    return 1;
  }
  printf("ok %s\n", query);
  TRY(rewind_server_stop(server));
  TRY(rewind_server_wait(server, -1, &state));
  rewind_server_free(server);
  TRY(rewind_store_close(store));
  return state == REWIND_SERVER_STATE_STOPPED ? 0 : 1;
}
