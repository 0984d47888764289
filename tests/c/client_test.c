/* Tests of the C client (rewind_store_connect): one suite of checks, a
 * function taking a rewind_store*, runs on an embedded in-memory store and
 * on a store served by an in-process server on a loopback port, and must
 * see the same results and statuses on both. Then what only a connected
 * store has: retries across a server restart, a clear NETWORK status when
 * nothing listens, options, CURVE keys.
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "events.h"
#include "rewind.h"

static void sleep_ms(long ms) {
  struct timespec t;
  t.tv_sec = ms / 1000;
  t.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

static uint64_t next_position(rewind_store *s) {
  uint64_t n = UINT64_MAX;
  CHECK_OK(rewind_store_next_position(s, &n));
  return n;
}

/* ---- a server in-process ---- */

struct served {
  rewind_store *backing; /* the server's embedded store */
  rewind_server *server;
  char endpoint[128]; /* its native endpoint, as bound */
};

/* Starts a server with only a native endpoint (`endpoint`, a wildcard port
 * allowed) on `backing`; returns 0 on failure. */
static int serve(struct served *sv, rewind_store *backing, const char *endpoint) {
  rewind_server_options *o = NULL;
  const char *bound = NULL;
  int ok = 0;
  sv->backing = backing;
  sv->server = NULL;
  CHECK_OK(rewind_server_options_new(&o));
  CHECK_OK(rewind_server_options_set_query_endpoints(o, ""));
  CHECK_OK(rewind_server_options_set_streaming_endpoints(o, ""));
  CHECK_OK(rewind_server_options_set_command_endpoints(o, ""));
  CHECK_OK(rewind_server_options_set_publish_endpoints(o, ""));
  CHECK_OK(rewind_server_options_set_native_endpoints(o, endpoint));
  CHECK_OK(rewind_server_start(backing, o, &sv->server));
  if (sv->server != NULL) {
    CHECK_OK(rewind_server_endpoints(sv->server, REWIND_ENDPOINT_NATIVE, &bound));
    if (bound != NULL && strlen(bound) < sizeof sv->endpoint) {
      strcpy(sv->endpoint, bound);
      ok = 1;
    }
  }
  rewind_server_options_free(o);
  CHECK(ok);
  return ok;
}

static void unserve(struct served *sv) {
  if (sv->server != NULL) {
    CHECK_OK(rewind_server_stop(sv->server));
    rewind_server_free(sv->server);
    sv->server = NULL;
  }
}

/* A client with a short timeout, so that a failure is quick even under
 * valgrind, and a few retries. */
static rewind_store *connect_to(const char *endpoint, uint64_t timeout_ms, uint32_t retries) {
  rewind_client_options *o = NULL;
  rewind_store *s = NULL;
  CHECK_OK(rewind_client_options_new(&o));
  CHECK_OK(rewind_client_options_set_timeout_ms(o, timeout_ms));
  CHECK_OK(rewind_client_options_set_retries(o, retries));
  CHECK_OK(rewind_store_connect(endpoint, o, &s));
  rewind_client_options_free(o);
  CHECK(s != NULL);
  return s;
}

/* ---- the suite both kinds of store run ---- */

static void expected_versions(rewind_store *s) {
  rewind_new_event_ex e = typed(NULL, "opened", "m", "1");
  rewind_appended *out = NULL;
  bool exists = false;
  uint64_t version = 99, position = 99;

  CHECK_OK(rewind_store_append_ex(s, B("acct-1"), &e, 1, REWIND_EXPECTED_NO_STREAM, 0, &out));
  CHECK(out != NULL && rewind_appended_count(out) == 1);
  if (out != NULL) {
    CHECK(rewind_appended_at(out, 0)->version == 0);
    CHECK(rewind_appended_at(out, 0)->position == 0);
    CHECK(rewind_appended_at(out, 0)->id_len == 36); /* a generated UUID */
  }
  rewind_appended_free(out);

  CHECK_STATUS(rewind_store_append_ex(s, B("acct-1"), &e, 1, REWIND_EXPECTED_NO_STREAM, 0, NULL),
               REWIND_STATUS_WRONG_EXPECTED_VERSION);
  CHECK(strstr(rewind_last_error_message(), "acct-1") != NULL);
  CHECK_STATUS(rewind_store_append_ex(s, B("acct-1"), &e, 1, REWIND_EXPECTED_EXACT, 5, NULL),
               REWIND_STATUS_WRONG_EXPECTED_VERSION);
  CHECK_STATUS(rewind_store_append_ex(s, B("nope"), &e, 1, REWIND_EXPECTED_STREAM_EXISTS, 0, NULL),
               REWIND_STATUS_WRONG_EXPECTED_VERSION);
  CHECK_OK(rewind_store_append_ex(s, B("acct-1"), &e, 1, REWIND_EXPECTED_EXACT, 0, NULL));
  CHECK_OK(rewind_store_append_ex(s, B("acct-1"), &e, 1, REWIND_EXPECTED_STREAM_EXISTS, 0, NULL));

  CHECK_OK(rewind_store_stream_head(s, B("acct-1"), &exists, &version, &position));
  CHECK(exists && version == 2 && position == 2);
  exists = true;
  CHECK_OK(rewind_store_stream_head(s, B("nope"), &exists, &version, &position));
  CHECK(!exists);
  CHECK(next_position(s) == 3);

  /* The caller's mistakes are the same statuses. */
  CHECK_STATUS(rewind_store_append_ex(s, B(""), &e, 1, REWIND_EXPECTED_ANY, 0, NULL),
               REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(rewind_store_append_ex(s, B("acct-1"), &e, 0, REWIND_EXPECTED_ANY, 0, NULL),
               REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(rewind_store_append_ex(s, B("acct-1"), &e, 1, 42, 0, NULL),
               REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(rewind_store_next_position(s, NULL), REWIND_STATUS_NULL_PARAMETER);
}

static void ids_and_retries(rewind_store *s) {
  rewind_new_event_ex e[2];
  rewind_new_event_ex changed;
  rewind_appended *first = NULL, *again = NULL;
  e[0] = typed("id-a", "t", "m", "a");
  e[1] = typed("id-b", "t", "m", "b");
  CHECK_OK(rewind_store_append_ex(s, B("ids"), e, 2, REWIND_EXPECTED_ANY, 0, &first));
  /* The same append again is a retry: the original positions, nothing new. */
  CHECK_OK(rewind_store_append_ex(s, B("ids"), e, 2, REWIND_EXPECTED_ANY, 0, &again));
  CHECK(first != NULL && again != NULL);
  if (first != NULL && again != NULL) {
    CHECK(rewind_appended_at(first, 0)->position == 3);
    CHECK(rewind_appended_at(again, 0)->position == 3);
    CHECK(rewind_appended_at(again, 1)->position == 4);
  }
  rewind_appended_free(first);
  rewind_appended_free(again);
  CHECK(next_position(s) == 5);
  changed = typed("id-a", "t", "m", "other data");
  CHECK_STATUS(rewind_store_append_ex(s, B("ids"), &changed, 1, REWIND_EXPECTED_ANY, 0, NULL),
               REWIND_STATUS_DUPLICATE_ID);
  /* The first append, without types. */
  {
    rewind_new_event plain;
    memset(&plain, 0, sizeof plain);
    plain.id = (const uint8_t *)"id-c";
    plain.id_len = 4;
    plain.data = (const uint8_t *)"c";
    plain.data_len = 1;
    CHECK_OK(rewind_store_append(s, B("ids"), &plain, 1, REWIND_EXPECTED_EXACT, 1, NULL));
  }
  CHECK(next_position(s) == 6);
}

static void multi_stream_appends(rewind_store *s) {
  rewind_new_event_ex a[2], b[1];
  rewind_stream_append parts[2];
  rewind_appended *out = NULL;
  const rewind_append_result *r;
  a[0] = typed(NULL, "x", "m", "a0");
  a[1] = typed(NULL, "y", "m", "a1");
  b[0] = typed(NULL, "x", "m", "b0");
  parts[0] = part("multi-a", REWIND_EXPECTED_NO_STREAM, 0, a, 2);
  parts[1] = part("multi-b", REWIND_EXPECTED_ANY, 0, b, 1);
  CHECK_OK(rewind_store_append_multi(s, parts, 2, &out));
  CHECK(out != NULL && rewind_appended_count(out) == 3);
  if (out != NULL) {
    r = rewind_appended_result_at(out, 2);
    CHECK(r != NULL && BYTES_EQ(r->stream, r->stream_len, "multi-b") && r->version == 0 &&
          r->position == 8);
  }
  rewind_appended_free(out);
  /* A conflict on one part refuses the whole append. */
  parts[1] = part("multi-b", REWIND_EXPECTED_NO_STREAM, 0, b, 1);
  parts[0] = part("multi-c", REWIND_EXPECTED_ANY, 0, a, 2);
  a[0] = typed(NULL, "x", "m", "c0");
  a[1] = typed(NULL, "x", "m", "c1");
  CHECK_STATUS(rewind_store_append_multi(s, parts, 2, NULL),
               REWIND_STATUS_WRONG_EXPECTED_VERSION);
  CHECK(next_position(s) == 9);
  CHECK_STATUS(rewind_store_append_multi(s, parts, 0, NULL), REWIND_STATUS_INVALID_ARGUMENT);
}

struct seen {
  uint64_t positions[32];
  size_t n;
  size_t stop_after;
};

static bool collect(void *userdata, const rewind_event *e) {
  struct seen *seen = userdata;
  if (seen->n < 32) seen->positions[seen->n++] = e->position;
  return seen->stop_after == 0 || seen->n < seen->stop_after;
}

static size_t count_and_free(rewind_events *events) {
  size_t n = rewind_events_count(events);
  rewind_events_free(events);
  return n;
}

static void every_read(rewind_store *s) {
  rewind_events *ev = NULL;
  struct seen seen;
  uint64_t next = 0, start = 0, end = 0;
  rewind_log_filter filter;
  rewind_bytes types[1];
  const rewind_event *e;

  /* Forward stream read. */
  CHECK_OK(rewind_store_read_stream(s, B("acct-1"), 1, 10, &ev));
  CHECK(rewind_events_count(ev) == 2);
  e = rewind_events_at(ev, 0);
  CHECK(e != NULL && e->version == 1 && BYTES_EQ(e->event_type, e->event_type_len, "opened") &&
        BYTES_EQ(e->metadata, e->metadata_len, "m") && BYTES_EQ(e->data, e->data_len, "1"));
  rewind_events_free(ev);
  memset(&seen, 0, sizeof seen);
  CHECK_OK(rewind_store_read_stream_visit(s, B("acct-1"), 0, SIZE_MAX, collect, &seen));
  CHECK(seen.n == 3 && seen.positions[2] == 2);

  /* Backward stream read. */
  CHECK_OK(rewind_store_read_stream_backward(s, B("acct-1"), REWIND_FROM_END, 2, &ev));
  CHECK(rewind_events_count(ev) == 2 && rewind_events_at(ev, 0)->version == 2);
  rewind_events_free(ev);
  memset(&seen, 0, sizeof seen);
  seen.stop_after = 1;
  CHECK_OK(rewind_store_read_stream_backward_visit(s, B("acct-1"), 1, 10, collect, &seen));
  CHECK(seen.n == 1 && seen.positions[0] == 1);

  /* The log, both ways. */
  CHECK_OK(rewind_store_read_log(s, 4, 100, &ev));
  CHECK(rewind_events_count(ev) == 5 && rewind_events_at(ev, 0)->position == 4);
  rewind_events_free(ev);
  memset(&seen, 0, sizeof seen);
  CHECK_OK(rewind_store_read_log_visit(s, 0, 3, collect, &seen));
  CHECK(seen.n == 3 && seen.positions[2] == 2);
  CHECK_OK(rewind_store_read_log_backward(s, REWIND_FROM_END, 2, &ev));
  CHECK(rewind_events_count(ev) == 2 && rewind_events_at(ev, 0)->position == 8);
  rewind_events_free(ev);
  memset(&seen, 0, sizeof seen);
  CHECK_OK(rewind_store_read_log_backward_visit(s, 3, 100, collect, &seen));
  CHECK(seen.n == 4 && seen.positions[0] == 3 && seen.positions[3] == 0);

  /* Filtered: streams starting "multi-" of type "x" (positions 6 and 8). */
  memset(&filter, 0, sizeof filter);
  filter.stream_prefix = (const uint8_t *)"multi-";
  filter.stream_prefix_len = 6;
  filter.match_types = true;
  types[0].ptr = (const uint8_t *)"x";
  types[0].len = 1;
  filter.event_types = types;
  filter.n_event_types = 1;
  CHECK_OK(rewind_store_read_log_filtered(s, 0, 100, &filter, &ev, &next));
  CHECK(rewind_events_count(ev) == 2 && rewind_events_at(ev, 1)->position == 8);
  CHECK(next == 9); /* the end of the log: nothing more to scan */
  rewind_events_free(ev);
  CHECK_OK(rewind_store_read_log_filtered(s, 0, 1, &filter, &ev, &next));
  CHECK(count_and_free(ev) == 1 && next == 7); /* one past the one returned */
  memset(&seen, 0, sizeof seen);
  next = 0;
  CHECK_OK(rewind_store_read_log_filtered_visit(s, 7, 100, &filter, collect, &seen, &next));
  CHECK(seen.n == 1 && seen.positions[0] == 8 && next == 9);
  /* The last event passed is not the log's last: the scan went on to the
   * end, and the next read starts there. */
  filter.match_types = false;
  filter.stream_prefix = (const uint8_t *)"acct-";
  filter.stream_prefix_len = 5;
  CHECK_OK(rewind_store_read_log_filtered(s, 1, 100, &filter, &ev, &next));
  CHECK(count_and_free(ev) == 2 && next == 9);
  CHECK_OK(rewind_store_read_log_filtered(s, 50, 100, &filter, &ev, &next));
  CHECK(count_and_free(ev) == 0 && next == 50);
  CHECK_OK(rewind_store_read_log_filtered(s, 0, 100, NULL, &ev, &next));
  CHECK(count_and_free(ev) == 9 && next == 9);

  /* The range query and its errors. */
  CHECK_OK(rewind_store_resolve_range(s, B("ids"), B("id-a"), NULL, 0, &start, &end));
  CHECK(start == 1 && end == 3);
  CHECK_OK(rewind_store_query(s, B("ids"), B("id-a"), B("id-b"), SIZE_MAX, &ev));
  CHECK(rewind_events_count(ev) == 1 && BYTES_EQ(rewind_events_at(ev, 0)->id,
                                                 rewind_events_at(ev, 0)->id_len, "id-b"));
  rewind_events_free(ev);
  memset(&seen, 0, sizeof seen);
  CHECK_OK(rewind_store_query_visit(s, B("ids"), NULL, 0, NULL, 0, 2, collect, &seen));
  CHECK(seen.n == 2 && seen.positions[1] == 4);
  CHECK_STATUS(rewind_store_query(s, B("ids"), B("no-such-id"), NULL, 0, 10, &ev),
               REWIND_STATUS_UNKNOWN_ID);
  CHECK_STATUS(rewind_store_resolve_range(s, B("acct-1"), B("id-a"), NULL, 0, &start, &end),
               REWIND_STATUS_ID_NOT_IN_STREAM);
  CHECK_STATUS(rewind_store_resolve_range(s, B("ids"), B("id-b"), B("id-a"), &start, &end),
               REWIND_STATUS_RANGE_ORDER);

  /* Lookups. */
  {
    bool found = false;
    CHECK_OK(rewind_store_get(s, B("id-b"), &ev));
    CHECK(rewind_events_count(ev) == 1 && rewind_events_at(ev, 0)->position == 4 &&
          BYTES_EQ(rewind_events_at(ev, 0)->stream, rewind_events_at(ev, 0)->stream_len, "ids"));
    rewind_events_free(ev);
    CHECK_OK(rewind_store_get(s, B("no-such-id"), &ev));
    CHECK(count_and_free(ev) == 0);
    CHECK_OK(rewind_store_contains(s, B("id-c"), &found));
    CHECK(found);
    CHECK_OK(rewind_store_contains(s, B("no-such-id"), &found));
    CHECK(!found);
    CHECK_STATUS(rewind_store_get(s, B(""), &ev), REWIND_STATUS_INVALID_ARGUMENT);
  }
}

struct appender {
  rewind_store *store;
  long delay_ms;
};

static void *append_later(void *arg) {
  struct appender *a = arg;
  rewind_new_event_ex e = typed(NULL, "live", "m", "late");
  sleep_ms(a->delay_ms);
  return (void *)(intptr_t)rewind_store_append_ex(a->store, B("sub-1"), &e, 1,
                                                   REWIND_EXPECTED_ANY, 0, NULL);
}

struct canceller {
  rewind_subscription *sub;
  long delay_ms;
};

static void *cancel_later(void *arg) {
  struct canceller *c = arg;
  sleep_ms(c->delay_ms);
  rewind_subscription_cancel(c->sub);
  return NULL;
}

static void subscriptions(rewind_store *s) {
  rewind_subscription *sub = NULL;
  rewind_subscription_item item;
  rewind_log_filter filter;
  rewind_new_event_ex e[2];
  struct appender a;
  struct canceller c;
  pthread_t thread;
  void *result = NULL;
  int i;

  e[0] = typed(NULL, "t", "m", "h0");
  e[1] = typed(NULL, "t", "m", "h1");
  CHECK_OK(rewind_store_append_ex(s, B("sub-1"), e, 2, REWIND_EXPECTED_ANY, 0, NULL));
  memset(&filter, 0, sizeof filter);
  filter.stream_prefix = (const uint8_t *)"sub-";
  filter.stream_prefix_len = 4;
  CHECK_OK(rewind_store_subscribe(s, 0, &filter, &sub));
  if (sub == NULL) return;
  /* History: the two events, then the caught-up marker. */
  for (i = 0; i < 2; i++) {
    CHECK_OK(rewind_subscription_next(sub, 10000, &item));
    CHECK(item.kind == REWIND_SUBSCRIPTION_EVENT);
    if (item.kind == REWIND_SUBSCRIPTION_EVENT) {
      CHECK(item.event->position == (uint64_t)(9 + i));
      CHECK(BYTES_EQ(item.event->data, item.event->data_len, i == 0 ? "h0" : "h1"));
    }
  }
  CHECK_OK(rewind_subscription_next(sub, 10000, &item));
  CHECK(item.kind == REWIND_SUBSCRIPTION_CAUGHT_UP);
  CHECK(rewind_subscription_position(sub) == 11);
  CHECK_OK(rewind_subscription_next(sub, 0, &item));
  CHECK(item.kind == REWIND_SUBSCRIPTION_TIMEOUT);
  /* A live event, appended by another thread while this one waits; one the
   * filter does not pass is skipped. */
  e[0] = typed(NULL, "t", "m", "elsewhere");
  CHECK_OK(rewind_store_append_ex(s, B("other"), e, 1, REWIND_EXPECTED_ANY, 0, NULL));
  a.store = s;
  a.delay_ms = 100;
  CHECK(pthread_create(&thread, NULL, append_later, &a) == 0);
  CHECK_OK(rewind_subscription_next(sub, 10000, &item));
  CHECK(item.kind == REWIND_SUBSCRIPTION_EVENT);
  if (item.kind == REWIND_SUBSCRIPTION_EVENT) {
    CHECK(item.event->position == 12 && BYTES_EQ(item.event->data, item.event->data_len, "late"));
  }
  pthread_join(thread, &result);
  CHECK((rewind_status)(intptr_t)result == REWIND_STATUS_OK);
  /* Cancelled from another thread while this one waits for ever. */
  c.sub = sub;
  c.delay_ms = 150;
  CHECK(pthread_create(&thread, NULL, cancel_later, &c) == 0);
  CHECK_OK(rewind_subscription_next(sub, REWIND_WAIT_FOREVER, &item));
  CHECK(item.kind == REWIND_SUBSCRIPTION_CANCELLED && item.event == NULL);
  pthread_join(thread, NULL);
  CHECK_OK(rewind_subscription_next(sub, 0, &item));
  CHECK(item.kind == REWIND_SUBSCRIPTION_CANCELLED);
  rewind_subscription_free(sub);

  /* From now: no history; a start past the end is refused. */
  sub = NULL;
  CHECK_OK(rewind_store_subscribe(s, REWIND_FROM_NOW, NULL, &sub));
  CHECK_OK(rewind_subscription_next(sub, 10000, &item));
  CHECK(item.kind == REWIND_SUBSCRIPTION_CAUGHT_UP);
  CHECK(rewind_subscription_position(sub) == 13);
  rewind_subscription_free(sub);
  sub = NULL;
  CHECK_STATUS(rewind_store_subscribe(s, 1000, NULL, &sub), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK(sub == NULL);
}

/* The suite, in order: each check builds on the events of the ones before,
 * so positions are the same on every fresh store. */
static void suite(rewind_store *s) {
  expected_versions(s);
  ids_and_retries(s);
  multi_stream_appends(s);
  every_read(s);
  subscriptions(s);
}

static void test_the_suite_on_an_embedded_store(void) {
  rewind_store *s = NULL;
  CHECK_OK(rewind_store_open_in_memory(&s));
  if (s == NULL) return;
  suite(s);
  CHECK_OK(rewind_store_close(s));
}

static void test_the_suite_on_a_connected_store(void) {
  rewind_store *backing = NULL, *s;
  struct served sv;
  CHECK_OK(rewind_store_open_in_memory(&backing));
  if (backing == NULL || !serve(&sv, backing, "tcp://127.0.0.1:*")) {
    rewind_store_close(backing);
    return;
  }
  s = connect_to(sv.endpoint, 5000, 3);
  if (s != NULL) {
    suite(s);
    /* What the client wrote is in the server's store. */
    CHECK(next_position(backing) == 13);
    CHECK_OK(rewind_store_close(s));
  }
  unserve(&sv);
  CHECK_OK(rewind_store_close(backing));
}

/* ---- what only a connected store has ---- */

static void test_nothing_listening_is_a_network_error(void) {
  rewind_store *backing = NULL, *s;
  struct served sv;
  char endpoint[128];
  uint64_t n = 7;
  double t0;
  rewind_events *ev = NULL;
  rewind_subscription *sub = NULL;
  /* A port that was just free: a server bound it and went away. */
  CHECK_OK(rewind_store_open_in_memory(&backing));
  if (backing == NULL || !serve(&sv, backing, "tcp://127.0.0.1:*")) return;
  strcpy(endpoint, sv.endpoint);
  unserve(&sv);
  CHECK_OK(rewind_store_close(backing));

  s = connect_to(endpoint, 200, 1);
  if (s == NULL) return;
  t0 = now_ms();
  CHECK_STATUS(rewind_store_next_position(s, &n), REWIND_STATUS_NETWORK);
  CHECK(strlen(rewind_last_error_message()) > 0);
  CHECK(n == 7); /* untouched */
  /* Two attempts of 200 ms each: well under the default's 20 seconds. */
  CHECK(now_ms() - t0 < 5000);
  CHECK_STATUS(rewind_store_read_log(s, 0, 10, &ev), REWIND_STATUS_NETWORK);
  CHECK(ev == NULL);
  CHECK_STATUS(rewind_store_subscribe(s, 0, NULL, &sub), REWIND_STATUS_NETWORK);
  CHECK(sub == NULL);
  CHECK(strcmp(rewind_status_text(REWIND_STATUS_NETWORK), "unknown status") != 0);
  CHECK_OK(rewind_store_close(s));
}

struct restarter {
  struct served *sv;
  char endpoint[128];
  long delay_ms;
  int ok;
};

static void *restart_later(void *arg) {
  struct restarter *r = arg;
  sleep_ms(r->delay_ms);
  r->ok = serve(r->sv, r->sv->backing, r->endpoint);
  return NULL;
}

static void test_requests_are_retried_across_a_server_restart(void) {
  rewind_store *backing = NULL, *s;
  struct served sv;
  struct restarter r;
  pthread_t thread;
  rewind_new_event_ex e = typed(NULL, "t", "m", "across");
  rewind_appended *out = NULL;
  rewind_events *ev = NULL;
  CHECK_OK(rewind_store_open_in_memory(&backing));
  if (backing == NULL || !serve(&sv, backing, "tcp://127.0.0.1:*")) return;
  s = connect_to(sv.endpoint, 300, 20);
  CHECK_OK(rewind_store_append_ex(s, B("r"), &e, 1, REWIND_EXPECTED_NO_STREAM, 0, NULL));
  /* The server goes away; the next append waits and resends until a new
   * server answers on the same endpoint, and is stored once. */
  strcpy(r.endpoint, sv.endpoint);
  unserve(&sv);
  r.sv = &sv;
  r.delay_ms = 700;
  r.ok = 0;
  CHECK(pthread_create(&thread, NULL, restart_later, &r) == 0);
  CHECK_OK(rewind_store_append_ex(s, B("r"), &e, 1, REWIND_EXPECTED_EXACT, 0, &out));
  pthread_join(thread, NULL);
  CHECK(r.ok);
  CHECK(out != NULL && rewind_appended_at(out, 0)->version == 1);
  rewind_appended_free(out);
  CHECK_OK(rewind_store_read_stream(backing, B("r"), 0, 100, &ev));
  CHECK(count_and_free(ev) == 2);
  CHECK_OK(rewind_store_close(s));
  unserve(&sv);
  CHECK_OK(rewind_store_close(backing));
}

static void test_closing_a_connected_store_ends_its_subscriptions(void) {
  rewind_store *backing = NULL, *s;
  struct served sv;
  rewind_subscription *sub = NULL;
  rewind_subscription_item item;
  rewind_server *nested = NULL;
  rewind_server_options *o = NULL;
  CHECK_OK(rewind_store_open_in_memory(&backing));
  if (backing == NULL || !serve(&sv, backing, "tcp://127.0.0.1:*")) return;
  s = connect_to(sv.endpoint, 5000, 3);
  /* A connected store cannot itself be served. */
  CHECK_OK(rewind_server_options_new(&o));
  CHECK_STATUS(rewind_server_start(s, o, &nested), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK(nested == NULL);
  rewind_server_options_free(o);
  CHECK_OK(rewind_store_subscribe(s, REWIND_FROM_NOW, NULL, &sub));
  CHECK_OK(rewind_subscription_next(sub, 10000, &item));
  CHECK(item.kind == REWIND_SUBSCRIPTION_CAUGHT_UP);
  CHECK_OK(rewind_store_close(s));
  /* The subscription outlives the handle, and says the store is closed. */
  CHECK_STATUS(rewind_subscription_next(sub, 1000, &item), REWIND_STATUS_CLOSED);
  rewind_subscription_free(sub);
  unserve(&sv);
  CHECK_OK(rewind_store_close(backing));
}

static void test_client_options_are_checked(void) {
  rewind_client_options *o = NULL;
  rewind_store *s = NULL;
  CHECK_STATUS(rewind_client_options_new(NULL), REWIND_STATUS_NULL_PARAMETER);
  CHECK_OK(rewind_client_options_new(&o));
  CHECK_STATUS(rewind_client_options_set_timeout_ms(o, 0), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(rewind_client_options_set_timeout_ms(NULL, 10), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_client_options_set_retries(NULL, 1), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_client_options_set_curve(o, "a", NULL, "b"), REWIND_STATUS_NULL_PARAMETER);
  CHECK_OK(rewind_client_options_set_curve(o, "short", "keys", "here"));
  CHECK_STATUS(rewind_store_connect("tcp://127.0.0.1:9", o, &s), REWIND_STATUS_CONFIG);
  CHECK(s == NULL);
  CHECK_OK(rewind_client_options_set_curve(o, NULL, NULL, NULL));
  CHECK_STATUS(rewind_store_connect("not an endpoint", o, &s), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK(s == NULL);
  CHECK_STATUS(rewind_store_connect(NULL, o, &s), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_store_connect("tcp://127.0.0.1:9", o, NULL), REWIND_STATUS_NULL_PARAMETER);
  rewind_client_options_free(o);
  rewind_client_options_free(NULL);
  /* NULL options: the defaults. */
  CHECK_OK(rewind_store_connect("tcp://127.0.0.1:9", NULL, &s));
  CHECK_OK(rewind_store_close(s));
}

static void test_curve_keys_and_a_curve_server(void) {
  char server_public[41], server_secret[41], client_public[41], client_secret[41];
  char stranger_public[41], stranger_secret[41];
  rewind_store *backing = NULL, *s;
  rewind_server_options *o = NULL;
  rewind_server *server = NULL;
  rewind_client_options *co = NULL;
  const char *endpoint = NULL;
  uint64_t n = 0;

  CHECK_STATUS(rewind_curve_keypair(NULL, server_secret), REWIND_STATUS_NULL_PARAMETER);
  CHECK_OK(rewind_curve_keypair(server_public, server_secret));
  CHECK_OK(rewind_curve_keypair(client_public, client_secret));
  CHECK_OK(rewind_curve_keypair(stranger_public, stranger_secret));
  CHECK(strlen(server_public) == 40 && strlen(server_secret) == 40);
  CHECK(strcmp(server_public, client_public) != 0 && strcmp(server_secret, client_secret) != 0);
  CHECK(strchr(server_secret, '%') == NULL && server_secret[0] != '-');

  CHECK_OK(rewind_store_open_in_memory(&backing));
  CHECK_OK(rewind_server_options_new(&o));
  CHECK_OK(rewind_server_options_set_query_endpoints(o, ""));
  CHECK_OK(rewind_server_options_set_streaming_endpoints(o, ""));
  CHECK_OK(rewind_server_options_set_command_endpoints(o, ""));
  CHECK_OK(rewind_server_options_set_publish_endpoints(o, ""));
  CHECK_OK(rewind_server_options_set_native_endpoints(o, "tcp://127.0.0.1:*"));
  CHECK_OK(rewind_server_options_set_curve_secret_key(o, server_secret));
  CHECK_OK(rewind_server_options_set_curve_allowed_clients(o, client_public));
  CHECK_OK(rewind_server_start(backing, o, &server));
  rewind_server_options_free(o);
  if (server == NULL) {
    rewind_store_close(backing);
    return;
  }
  CHECK_OK(rewind_server_endpoints(server, REWIND_ENDPOINT_NATIVE, &endpoint));

  CHECK_OK(rewind_client_options_new(&co));
  CHECK_OK(rewind_client_options_set_timeout_ms(co, 2000));
  CHECK_OK(rewind_client_options_set_curve(co, server_public, client_public, client_secret));
  CHECK_OK(rewind_store_connect(endpoint, co, &s));
  CHECK_OK(rewind_store_next_position(s, &n));
  CHECK(n == 0);
  CHECK_OK(rewind_store_close(s));

  /* A key the server does not know gets no answer: NETWORK. */
  CHECK_OK(rewind_client_options_set_timeout_ms(co, 200));
  CHECK_OK(rewind_client_options_set_retries(co, 0));
  CHECK_OK(rewind_client_options_set_curve(co, server_public, stranger_public, stranger_secret));
  CHECK_OK(rewind_store_connect(endpoint, co, &s));
  CHECK_STATUS(rewind_store_next_position(s, &n), REWIND_STATUS_NETWORK);
  CHECK_OK(rewind_store_close(s));
  rewind_client_options_free(co);

  CHECK_OK(rewind_server_stop(server));
  rewind_server_free(server);
  CHECK_OK(rewind_store_close(backing));
}

int main(void) {
  RUN(test_the_suite_on_an_embedded_store);
  RUN(test_the_suite_on_a_connected_store);
  RUN(test_nothing_listening_is_a_network_error);
  RUN(test_requests_are_retried_across_a_server_restart);
  RUN(test_closing_a_connected_store_ends_its_subscriptions);
  RUN(test_client_options_are_checked);
  RUN(test_curve_keys_and_a_curve_server);
  return FINISH();
}
