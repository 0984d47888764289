/* A complete C program that embeds the Rewind event store.
 *
 * Build, with librewind installed (see the README: a tarball from
 * scripts/package.sh, or scripts/install-librewind.sh from source):
 *   cc -std=c99 -Wall examples/c/example.c $(pkg-config --cflags --libs rewind) -o example
 * or, linking librewind.a:
 *   cc -std=c99 -Wall examples/c/example.c $(pkg-config --cflags --libs rewind-static) -o example
 * Run:
 *   ./example ./example-data
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "rewind.h"

/* Prints the error of a failed call and returns 1 from main. */
#define TRY(call)                                                         \
  do {                                                                    \
    rewind_status st_ = (call);                                           \
    if (st_ != REWIND_STATUS_OK) {                                        \
      fprintf(stderr, "%s failed: %s (%s)\n", #call,                      \
              rewind_last_error_message(), rewind_status_text(st_));      \
      return 1;                                                           \
    }                                                                     \
  } while (0)

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "./example-data";
  rewind_store *store = NULL;
  rewind_appended *appended = NULL;
  rewind_events *events = NULL;
  rewind_new_event new_events[2];
  const rewind_append_info *first;
  size_t i;

  /* Open (or create) an LMDB store in a directory: default map sizes, no
   * size limit, read-write. */
  TRY(rewind_store_open_lmdb(dir, 0, 0, false, &store));

  /* Append two events to stream "cart-7" atomically; the store generates
   * their ids. It returns once they are durable on disk. */
  memset(new_events, 0, sizeof new_events);
  new_events[0].data = (const uint8_t *)"added apple";
  new_events[0].data_len = strlen("added apple");
  new_events[1].data = (const uint8_t *)"added pear";
  new_events[1].data_len = strlen("added pear");
  TRY(rewind_store_append(store, (const uint8_t *)"cart-7", strlen("cart-7"), new_events, 2,
                          REWIND_EXPECTED_ANY, 0, &appended));
  first = rewind_appended_at(appended, 0);
  printf("appended %zu events; the first has id %.*s, version %llu\n",
         rewind_appended_count(appended), (int)first->id_len, (const char *)first->id,
         (unsigned long long)first->version);
  rewind_appended_free(appended);

  /* Read the whole stream back. The result owns one buffer with every
   * event; the pointers in it stay valid until rewind_events_free. */
  TRY(rewind_store_read_stream(store, (const uint8_t *)"cart-7", strlen("cart-7"), 0, SIZE_MAX,
                               &events));
  for (i = 0; i < rewind_events_count(events); i++) {
    const rewind_event *e = rewind_events_at(events, i);
    printf("version %llu, position %llu: %.*s\n", (unsigned long long)e->version,
           (unsigned long long)e->position, (int)e->data_len, (const char *)e->data);
  }
  rewind_events_free(events);

  /* Optimistic concurrency: this append expects a new stream, but the
   * stream exists, so it fails and nothing is written. */
  if (rewind_store_append(store, (const uint8_t *)"cart-7", strlen("cart-7"), new_events, 1,
                          REWIND_EXPECTED_NO_STREAM, 0, NULL) ==
      REWIND_STATUS_WRONG_EXPECTED_VERSION) {
    printf("conflict, as expected: %s\n", rewind_last_error_message());
  }

  TRY(rewind_store_close(store));
  return 0;
}
