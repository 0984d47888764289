/* Tests of the event-sourcing part of the C ABI: event types and metadata,
 * appends across streams and their retries, backward and filtered reads,
 * subscriptions with their cancel, and the 0.4.0 layout of
 * rewind_events_items.
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#define _XOPEN_SOURCE 700

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "events.h"
#include "rewind.h"

static rewind_store *memory_store(void) {
  rewind_store *s = NULL;
  CHECK_OK(rewind_store_open_in_memory(&s));
  CHECK(s != NULL);
  return s;
}

/* Appends one typed event with a generated id to `stream`. */
static void append_typed(rewind_store *s, const char *stream, const char *type, const char *data) {
  rewind_new_event_ex e = typed(NULL, type, NULL, data);
  CHECK_OK(rewind_store_append_ex(s, B(stream), &e, 1, REWIND_EXPECTED_ANY, 0, NULL));
}

static void test_types_and_metadata_round_trip(void) {
  rewind_store *s = memory_store();
  rewind_new_event_ex ev[2];
  rewind_new_event plain = {NULL, 0, (const uint8_t *)"old", 3};
  rewind_appended *ap = NULL;
  rewind_events *evs = NULL;
  const rewind_event *e;
  ev[0] = typed("o-1", "OrderPlaced", "{\"by\":\"ann\"}", "p");
  ev[1] = typed("o-2", "Commande pass\xc3\xa9" "e", NULL, "q");
  CHECK_OK(rewind_store_append_ex(s, B("order-1"), ev, 2, REWIND_EXPECTED_NO_STREAM, 0, &ap));
  CHECK(rewind_appended_count(ap) == 2);
  CHECK(rewind_appended_result_at(ap, 1) != NULL &&
        BYTES_EQ(rewind_appended_result_at(ap, 1)->stream, rewind_appended_result_at(ap, 1)->stream_len,
                 "order-1"));
  rewind_appended_free(ap);
  /* An event appended the 0.4.0 way has no type and no metadata. */
  CHECK_OK(rewind_store_append(s, B("order-1"), &plain, 1, REWIND_EXPECTED_EXACT, 1, NULL));

  CHECK_OK(rewind_store_read_stream(s, B("order-1"), 0, SIZE_MAX, &evs));
  CHECK(rewind_events_count(evs) == 3);
  e = rewind_events_at(evs, 0);
  CHECK(e && BYTES_EQ(e->event_type, e->event_type_len, "OrderPlaced"));
  CHECK(e && BYTES_EQ(e->metadata, e->metadata_len, "{\"by\":\"ann\"}"));
  CHECK(e && BYTES_EQ(e->data, e->data_len, "p"));
  e = rewind_events_at(evs, 1);
  CHECK(e && BYTES_EQ(e->event_type, e->event_type_len, "Commande pass\xc3\xa9" "e"));
  CHECK(e && e->metadata_len == 0);
  e = rewind_events_at(evs, 2);
  CHECK(e && e->event_type_len == 0 && e->metadata_len == 0 && BYTES_EQ(e->data, e->data_len, "old"));
  /* The array has the new stride too. */
  e = rewind_events_items(evs);
  CHECK(e && BYTES_EQ(e[1].event_type, e[1].event_type_len, "Commande pass\xc3\xa9" "e"));
  CHECK(e && &e[2] == rewind_events_at(evs, 2));
  rewind_events_free(evs);

  CHECK_OK(rewind_store_get(s, B("o-1"), &evs));
  e = rewind_events_at(evs, 0);
  CHECK(e && BYTES_EQ(e->event_type, e->event_type_len, "OrderPlaced"));
  rewind_events_free(evs);
  CHECK_OK(rewind_store_close(s));
}

/* What a program built against the 0.4.0 header sees: rewind_event without
 * type and metadata, and the symbol rewind_events_items with that stride. */
struct event_040 {
  const uint8_t *id;
  size_t id_len;
  const uint8_t *data;
  size_t data_len;
  const uint8_t *stream;
  size_t stream_len;
  uint64_t version;
  uint64_t position;
};
#undef rewind_events_items
const void *rewind_events_items(const rewind_events *events);

static void test_programs_built_against_040_still_read_arrays(void) {
  rewind_store *s = memory_store();
  rewind_events *evs = NULL;
  const struct event_040 *old;
  size_t i;
  append_typed(s, "a", "T", "zero");
  append_typed(s, "a", "T", "one");
  append_typed(s, "a", "T", "two");
  CHECK_OK(rewind_store_read_log(s, 0, SIZE_MAX, &evs));
  old = (const struct event_040 *)rewind_events_items(evs);
  CHECK(old != NULL);
  for (i = 0; old && i < 3; i++) {
    const rewind_event *now = rewind_events_at(evs, i);
    CHECK(old[i].version == i && old[i].position == i);
    CHECK(old[i].data == now->data && old[i].data_len == now->data_len);
    CHECK(old[i].id == now->id && BYTES_EQ(old[i].stream, old[i].stream_len, "a"));
  }
  CHECK(rewind_events_items(NULL) == NULL);
  rewind_events_free(evs);
  CHECK_OK(rewind_store_close(s));
}

static void test_append_multi_is_atomic(void) {
  rewind_store *s = memory_store();
  rewind_new_event_ex a[2], b[1], c[1];
  rewind_stream_append parts[2];
  rewind_appended *ap = NULL;
  const rewind_append_result *r;
  uint64_t next = 99;
  a[0] = typed(NULL, "Debited", NULL, "10");
  a[1] = typed(NULL, "Debited", NULL, "20");
  b[0] = typed(NULL, "Credited", NULL, "30");
  parts[0] = part("account-a", REWIND_EXPECTED_NO_STREAM, 0, a, 2);
  parts[1] = part("account-b", REWIND_EXPECTED_ANY, 0, b, 1);
  CHECK_OK(rewind_store_append_multi(s, parts, 2, &ap));
  CHECK(rewind_appended_count(ap) == 3);
  r = rewind_appended_results(ap);
  CHECK(r != NULL);
  if (r) {
    CHECK(BYTES_EQ(r[0].stream, r[0].stream_len, "account-a") && r[0].version == 0 && r[0].position == 0);
    CHECK(BYTES_EQ(r[1].stream, r[1].stream_len, "account-a") && r[1].version == 1 && r[1].position == 1);
    CHECK(BYTES_EQ(r[2].stream, r[2].stream_len, "account-b") && r[2].version == 0 && r[2].position == 2);
    CHECK(r[2].id_len == 36 && rewind_appended_at(ap, 2)->id_len == 36);
  }
  rewind_appended_free(ap);

  /* A conflict on the second part writes nothing of the first. */
  c[0] = typed(NULL, "Credited", NULL, "40");
  parts[0] = part("account-c", REWIND_EXPECTED_NO_STREAM, 0, c, 1);
  parts[1] = part("account-b", REWIND_EXPECTED_EXACT, 7, b, 1);
  ap = NULL;
  CHECK_STATUS(rewind_store_append_multi(s, parts, 2, &ap), REWIND_STATUS_WRONG_EXPECTED_VERSION);
  CHECK(ap == NULL);
  CHECK_OK(rewind_store_next_position(s, &next));
  CHECK(next == 3);
  /* A stream named twice, no parts, a part without events: refused. */
  parts[1] = part("account-c", REWIND_EXPECTED_ANY, 0, b, 1);
  CHECK_STATUS(rewind_store_append_multi(s, parts, 2, NULL), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(rewind_store_append_multi(s, parts, 0, NULL), REWIND_STATUS_INVALID_ARGUMENT);
  parts[1] = part("account-d", REWIND_EXPECTED_ANY, 0, NULL, 0);
  CHECK_STATUS(rewind_store_append_multi(s, parts, 2, NULL), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_OK(rewind_store_next_position(s, &next));
  CHECK(next == 3);
  CHECK_OK(rewind_store_close(s));
}

static void test_a_retry_returns_the_original_positions(void) {
  rewind_store *s = memory_store();
  rewind_new_event_ex a[1], b[2];
  rewind_stream_append parts[2];
  rewind_appended *first = NULL, *again = NULL;
  uint64_t next = 0;
  size_t i;
  append_typed(s, "other", "X", "before");
  a[0] = typed("id-a", "A", "m", "1");
  b[0] = typed("id-b1", "B", NULL, "2");
  b[1] = typed("id-b2", "B", NULL, "3");
  parts[0] = part("s-a", REWIND_EXPECTED_NO_STREAM, 0, a, 1);
  parts[1] = part("s-b", REWIND_EXPECTED_NO_STREAM, 0, b, 2);
  CHECK_OK(rewind_store_append_multi(s, parts, 2, &first));
  append_typed(s, "other", "X", "between");
  /* The same append again (its acknowledgement was lost): the original
   * positions, though the expected versions no longer hold. */
  CHECK_OK(rewind_store_append_multi(s, parts, 2, &again));
  CHECK(rewind_appended_count(first) == 3 && rewind_appended_count(again) == 3);
  for (i = 0; i < 3 && rewind_appended_count(again) == 3; i++) {
    const rewind_append_result *x = rewind_appended_result_at(first, i);
    const rewind_append_result *y = rewind_appended_result_at(again, i);
    CHECK(x->position == y->position && x->version == y->version);
    CHECK(x->position == i + 1);
  }
  CHECK_OK(rewind_store_next_position(s, &next));
  CHECK(next == 5);
  /* A known id with other data is a duplicate. */
  b[1] = typed("id-b2", "B", NULL, "changed");
  CHECK_STATUS(rewind_store_append_ex(s, B("s-b"), &b[1], 1, REWIND_EXPECTED_ANY, 0, NULL),
               REWIND_STATUS_DUPLICATE_ID);
  rewind_appended_free(first);
  rewind_appended_free(again);
  CHECK_OK(rewind_store_close(s));
}

struct seen {
  size_t n;
  uint64_t positions[16];
  uint64_t versions[16];
  size_t stop_after;
};

static bool record(void *userdata, const rewind_event *e) {
  struct seen *seen = userdata;
  if (seen->n < 16) {
    seen->positions[seen->n] = e->position;
    seen->versions[seen->n] = e->version;
  }
  seen->n++;
  return seen->stop_after == 0 || seen->n < seen->stop_after;
}

static void test_backward_reads(void) {
  rewind_store *s = memory_store();
  rewind_events *evs = NULL;
  struct seen seen;
  size_t i;
  for (i = 0; i < 4; i++) append_typed(s, "x", "T", "x");
  append_typed(s, "y", "T", "y"); /* position 4 */
  CHECK_OK(rewind_store_read_stream_backward(s, B("x"), REWIND_FROM_END, SIZE_MAX, &evs));
  CHECK(rewind_events_count(evs) == 4);
  for (i = 0; i < 4 && rewind_events_count(evs) == 4; i++)
    CHECK(rewind_events_at(evs, i)->version == 3 - i);
  rewind_events_free(evs);
  CHECK_OK(rewind_store_read_stream_backward(s, B("x"), 2, 2, &evs));
  CHECK(rewind_events_count(evs) == 2 && rewind_events_at(evs, 0)->version == 2 &&
        rewind_events_at(evs, 1)->version == 1);
  rewind_events_free(evs);
  CHECK_OK(rewind_store_read_stream_backward(s, B("nope"), REWIND_FROM_END, SIZE_MAX, &evs));
  CHECK(rewind_events_count(evs) == 0);
  rewind_events_free(evs);

  CHECK_OK(rewind_store_read_log_backward(s, REWIND_FROM_END, 2, &evs));
  CHECK(rewind_events_count(evs) == 2 && rewind_events_at(evs, 0)->position == 4 &&
        rewind_events_at(evs, 1)->position == 3);
  rewind_events_free(evs);

  memset(&seen, 0, sizeof seen);
  CHECK_OK(rewind_store_read_log_backward_visit(s, 2, SIZE_MAX, record, &seen));
  CHECK(seen.n == 3 && seen.positions[0] == 2 && seen.positions[2] == 0);
  memset(&seen, 0, sizeof seen);
  seen.stop_after = 2;
  CHECK_OK(rewind_store_read_stream_backward_visit(s, B("x"), REWIND_FROM_END, SIZE_MAX, record,
                                                   &seen));
  CHECK(seen.n == 2 && seen.versions[0] == 3 && seen.versions[1] == 2);
  CHECK_STATUS(rewind_store_read_stream_backward(s, B(""), 0, 1, &evs),
               REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(rewind_store_read_log_backward_visit(s, 0, 1, NULL, NULL),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_OK(rewind_store_close(s));
}

static void test_filtered_reads(void) {
  rewind_store *s = memory_store();
  rewind_events *evs = NULL;
  rewind_log_filter f;
  rewind_bytes types[2];
  struct seen seen;
  uint64_t next = 99;
  append_typed(s, "order-1", "created", "a"); /* 0 */
  append_typed(s, "cart-1", "created", "b");  /* 1 */
  append_typed(s, "order-2", "shipped", "c"); /* 2 */
  append_typed(s, "order-1", "paid", "d");    /* 3 */
  append_typed(s, "cart-1", "paid", "e");     /* 4 */
  memset(&f, 0, sizeof f);
  f.stream_prefix = (const uint8_t *)"order-";
  f.stream_prefix_len = 6;
  f.match_types = true;
  types[0].ptr = (const uint8_t *)"created";
  types[0].len = 7;
  types[1].ptr = (const uint8_t *)"paid";
  types[1].len = 4;
  f.event_types = types;
  f.n_event_types = 2;
  CHECK_OK(rewind_store_read_log_filtered(s, 0, SIZE_MAX, &f, &evs, &next));
  CHECK(rewind_events_count(evs) == 2 && rewind_events_at(evs, 0)->position == 0 &&
        rewind_events_at(evs, 1)->position == 3);
  CHECK(next == 5);
  rewind_events_free(evs);
  /* A limit of one: resume after the event returned. */
  CHECK_OK(rewind_store_read_log_filtered(s, 0, 1, &f, &evs, &next));
  CHECK(rewind_events_count(evs) == 1 && next == 1);
  rewind_events_free(evs);
  CHECK_OK(rewind_store_read_log_filtered(s, next, 1, &f, &evs, &next));
  CHECK(rewind_events_count(evs) == 1 && rewind_events_at(evs, 0)->position == 3 && next == 4);
  rewind_events_free(evs);
  /* An empty set of types passes nothing; NULL passes everything. */
  f.n_event_types = 0;
  CHECK_OK(rewind_store_read_log_filtered(s, 0, SIZE_MAX, &f, &evs, &next));
  CHECK(rewind_events_count(evs) == 0 && next == 5);
  rewind_events_free(evs);
  memset(&seen, 0, sizeof seen);
  CHECK_OK(rewind_store_read_log_filtered_visit(s, 1, SIZE_MAX, NULL, record, &seen, NULL));
  CHECK(seen.n == 4);
  /* Types are checked as appends check them. */
  f.n_event_types = 1;
  types[0].ptr = (const uint8_t *)"bad\xff";
  types[0].len = 4;
  CHECK_STATUS(rewind_store_read_log_filtered(s, 0, 1, &f, &evs, &next),
               REWIND_STATUS_INVALID_ARGUMENT);
  types[0].ptr = NULL;
  CHECK_STATUS(rewind_store_read_log_filtered(s, 0, 1, &f, &evs, &next),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_store_read_log_filtered(s, 0, 1, NULL, &evs, NULL),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_OK(rewind_store_close(s));
}

static void test_types_are_checked(void) {
  rewind_store *s = memory_store();
  char long_type[257];
  rewind_new_event_ex e = typed(NULL, "ok", NULL, "d");
  rewind_stream_append p = part("s", REWIND_EXPECTED_ANY, 0, &e, 1);
  memset(long_type, 't', 256);
  long_type[256] = '\0';
  e.event_type = (const uint8_t *)long_type;
  e.event_type_len = 255;
  CHECK_OK(rewind_store_append_ex(s, B("s"), &e, 1, REWIND_EXPECTED_ANY, 0, NULL));
  e.event_type_len = 256;
  CHECK_STATUS(rewind_store_append_ex(s, B("s"), &e, 1, REWIND_EXPECTED_ANY, 0, NULL),
               REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(rewind_store_append_multi(s, &p, 1, NULL), REWIND_STATUS_INVALID_ARGUMENT);
  e.event_type = (const uint8_t *)"\xc3";
  e.event_type_len = 1;
  CHECK_STATUS(rewind_store_append_ex(s, B("s"), &e, 1, REWIND_EXPECTED_ANY, 0, NULL),
               REWIND_STATUS_INVALID_ARGUMENT);
  e.event_type = NULL;
  CHECK_STATUS(rewind_store_append_ex(s, B("s"), &e, 1, REWIND_EXPECTED_ANY, 0, NULL),
               REWIND_STATUS_NULL_PARAMETER);
  e = typed("", NULL, NULL, "d");
  CHECK_STATUS(rewind_store_append_ex(s, B("s"), &e, 1, REWIND_EXPECTED_ANY, 0, NULL),
               REWIND_STATUS_INVALID_ARGUMENT);
  e = typed(NULL, NULL, NULL, "d");
  p = part("", REWIND_EXPECTED_ANY, 0, &e, 1);
  CHECK_STATUS(rewind_store_append_multi(s, &p, 1, NULL), REWIND_STATUS_INVALID_ARGUMENT);
  p = part("s", 42, 0, &e, 1);
  CHECK_STATUS(rewind_store_append_multi(s, &p, 1, NULL), REWIND_STATUS_INVALID_ARGUMENT);
  p.stream = NULL;
  CHECK_STATUS(rewind_store_append_multi(s, &p, 1, NULL), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_store_append_multi(NULL, &p, 1, NULL), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_store_append_multi(s, NULL, 1, NULL), REWIND_STATUS_NULL_PARAMETER);
  CHECK_OK(rewind_store_close(s));
}

struct appender {
  rewind_store *store;
  int count;
};

static void sleep_ms(long ms) {
  struct timespec t;
  t.tv_sec = ms / 1000;
  t.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&t, NULL);
}

static void *append_live(void *arg) {
  struct appender *a = arg;
  int i;
  for (i = 0; i < a->count; i++) {
    rewind_new_event_ex e = typed(NULL, i % 2 ? "skipped" : "wanted", NULL, "live");
    sleep_ms(5);
    if (rewind_store_append_ex(a->store, B("live-stream"), &e, 1, REWIND_EXPECTED_ANY, 0, NULL) !=
        REWIND_STATUS_OK)
      return (void *)1;
  }
  return NULL;
}

static void test_a_subscription_goes_from_history_to_live(void) {
  rewind_store *s = memory_store();
  rewind_subscription *sub = NULL;
  rewind_subscription_item item;
  rewind_log_filter f;
  rewind_bytes wanted;
  struct appender a;
  pthread_t thread;
  void *thread_result = (void *)1;
  uint64_t expected_position = 1;
  int history = 0, live = 0, caught_up = 0, i;
  bool in_order = true, caught_up_between = true;
  append_typed(s, "ignored", "wanted", "h"); /* 0: filtered out by the stream prefix */
  for (i = 0; i < 3; i++) append_typed(s, "live-stream", "wanted", "h"); /* 1..3 */
  memset(&f, 0, sizeof f);
  f.stream_prefix = (const uint8_t *)"live-";
  f.stream_prefix_len = 5;
  f.match_types = true;
  wanted.ptr = (const uint8_t *)"wanted";
  wanted.len = 6;
  f.event_types = &wanted;
  f.n_event_types = 1;
  CHECK_OK(rewind_store_subscribe(s, 0, &f, &sub));
  a.store = s;
  a.count = 10; /* 4..13, of which 5 are "wanted": 4, 6, 8, 10, 12 */
  CHECK(pthread_create(&thread, NULL, append_live, &a) == 0);
  while (live < 5) {
    CHECK_OK(rewind_subscription_next(sub, 5000, &item));
    if (item.kind == REWIND_SUBSCRIPTION_EVENT) {
      CHECK(item.event != NULL);
      if (item.event == NULL) break;
      if (item.event->position < expected_position) in_order = false;
      expected_position = item.event->position + 1;
      CHECK(BYTES_EQ(item.event->event_type, item.event->event_type_len, "wanted"));
      if (caught_up) {
        live++;
      } else {
        history++;
      }
    } else if (item.kind == REWIND_SUBSCRIPTION_CAUGHT_UP) {
      caught_up++;
      if (history < 3) caught_up_between = false;
      CHECK(item.event == NULL);
    } else {
      CHECK(item.kind != REWIND_SUBSCRIPTION_CANCELLED);
      break; /* a timeout: nothing came in 5 s */
    }
  }
  pthread_join(thread, &thread_result);
  CHECK(thread_result == NULL);
  /* Some live events may come before the marker if they were committed
   * before the subscription caught up: 3 history events at least, all 8
   * wanted events once, the marker once. */
  CHECK(caught_up == 1 && caught_up_between);
  CHECK(history + live == 8 && in_order);
  CHECK(expected_position == 13);
  CHECK(rewind_subscription_position(sub) == 13);
  /* Nothing more: a short wait times out. */
  CHECK_OK(rewind_subscription_next(sub, 20, &item));
  CHECK(item.kind == REWIND_SUBSCRIPTION_TIMEOUT && item.event == NULL);
  rewind_subscription_free(sub);

  /* From now: the marker first, no history. */
  CHECK_OK(rewind_store_subscribe(s, REWIND_FROM_NOW, NULL, &sub));
  CHECK_OK(rewind_subscription_next(sub, 1000, &item));
  CHECK(item.kind == REWIND_SUBSCRIPTION_CAUGHT_UP);
  append_typed(s, "z", "", "after");
  CHECK_OK(rewind_subscription_next(sub, 5000, &item));
  CHECK(item.kind == REWIND_SUBSCRIPTION_EVENT && item.event && item.event->position == 14 &&
        BYTES_EQ(item.event->data, item.event->data_len, "after"));
  rewind_subscription_free(sub);
  CHECK_OK(rewind_store_close(s));
}

static void *cancel_later(void *arg) {
  sleep_ms(100);
  rewind_subscription_cancel(arg);
  return NULL;
}

static void test_cancel_wakes_a_blocked_next(void) {
  rewind_store *s = memory_store();
  rewind_subscription *sub = NULL;
  rewind_subscription_item item;
  pthread_t thread;
  CHECK_OK(rewind_store_subscribe(s, REWIND_FROM_NOW, NULL, &sub));
  CHECK_OK(rewind_subscription_next(sub, 0, &item));
  CHECK(item.kind == REWIND_SUBSCRIPTION_CAUGHT_UP);
  CHECK(pthread_create(&thread, NULL, cancel_later, sub) == 0);
  /* Waits forever but for the cancel. */
  CHECK_OK(rewind_subscription_next(sub, REWIND_WAIT_FOREVER, &item));
  CHECK(item.kind == REWIND_SUBSCRIPTION_CANCELLED && item.event == NULL);
  pthread_join(thread, NULL);
  CHECK_OK(rewind_subscription_next(sub, 1000, &item));
  CHECK(item.kind == REWIND_SUBSCRIPTION_CANCELLED);
  rewind_subscription_cancel(sub);
  rewind_subscription_cancel(NULL);
  rewind_subscription_free(sub);
  rewind_subscription_free(NULL);

  /* A closed store: the subscription says so once it has handed out
   * everything. */
  CHECK_OK(rewind_store_subscribe(s, 0, NULL, &sub));
  append_typed(s, "a", "T", "last");
  CHECK_OK(rewind_store_close(s));
  CHECK_OK(rewind_subscription_next(sub, 1000, &item));
  CHECK(item.kind == REWIND_SUBSCRIPTION_EVENT);
  CHECK_OK(rewind_subscription_next(sub, 1000, &item));
  CHECK(item.kind == REWIND_SUBSCRIPTION_CAUGHT_UP);
  CHECK_STATUS(rewind_subscription_next(sub, 1000, &item), REWIND_STATUS_CLOSED);
  CHECK_STATUS(rewind_subscription_next(NULL, 0, &item), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_subscription_next(sub, 0, NULL), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_store_subscribe(NULL, 0, NULL, &sub), REWIND_STATUS_NULL_PARAMETER);
  rewind_subscription_free(sub);
}

int main(void) {
  RUN(test_types_and_metadata_round_trip);
  RUN(test_programs_built_against_040_still_read_arrays);
  RUN(test_append_multi_is_atomic);
  RUN(test_a_retry_returns_the_original_positions);
  RUN(test_backward_reads);
  RUN(test_filtered_reads);
  RUN(test_types_are_checked);
  RUN(test_a_subscription_goes_from_history_to_live);
  RUN(test_cancel_wakes_a_blocked_next);
  return FINISH();
}
