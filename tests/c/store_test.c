/* Tests of the store part of the C ABI: round trips, expected versions,
 * reads, range queries, lookups, threads, and every error path.
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#define _XOPEN_SOURCE 700

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "rewind.h"
#include "util.h"

static rewind_store *memory_store(void) {
  rewind_store *s = NULL;
  CHECK_OK(rewind_store_open_in_memory(&s));
  CHECK(s != NULL);
  return s;
}

/* Appends one event with data `data` (and id `id`, or a generated one when
 * NULL) to `stream`, expecting `want`. */
static rewind_status append1(rewind_store *s, const char *stream, const char *id,
                             const char *data, rewind_expected_kind kind, uint64_t version) {
  rewind_new_event e;
  e.id = (const uint8_t *)id;
  e.id_len = id ? strlen(id) : 0;
  e.data = (const uint8_t *)data;
  e.data_len = strlen(data);
  return rewind_store_append(s, B(stream), &e, 1, kind, version, NULL);
}

static void test_version_and_status_texts(void) {
  CHECK(strlen(rewind_version()) > 0);
  CHECK(strcmp(rewind_status_text(REWIND_STATUS_OK), "ok") == 0);
  CHECK(strcmp(rewind_status_text(REWIND_STATUS_UNKNOWN_ID), "unknown event id") == 0);
  CHECK(strcmp(rewind_status_text(12345), "unknown status") == 0);
  /* The numbers are part of the ABI. */
  CHECK(REWIND_STATUS_NULL_PARAMETER == 100);
  CHECK(REWIND_STATUS_WRONG_EXPECTED_VERSION == 200);
  CHECK(REWIND_STATUS_STORAGE_FULL == 300);
  CHECK(REWIND_STATUS_CONFIG == 400);
  CHECK(REWIND_STATUS_BIND == 402);
  CHECK(REWIND_STATUS_STORAGE == 305 && REWIND_STATUS_LMDB == REWIND_STATUS_STORAGE);
  CHECK(REWIND_STATUS_PANIC == 900);
  CHECK(strcmp(rewind_last_error_message(), "") == 0);
}

static void test_in_memory_round_trip(void) {
  rewind_store *s = memory_store();
  rewind_new_event ev[3];
  rewind_appended *ap = NULL;
  rewind_events *evs = NULL;
  const rewind_append_info *info;
  const rewind_event *e;
  bool found = false;
  bool exists = false;
  uint64_t version = 99, position = 99, next = 99;
  char generated[64];

  memset(ev, 0, sizeof ev);
  ev[0].id = (const uint8_t *)"order-1-created";
  ev[0].id_len = strlen("order-1-created");
  ev[0].data = (const uint8_t *)"{\"total\":3}";
  ev[0].data_len = strlen("{\"total\":3}");
  ev[1].data = (const uint8_t *)"paid";
  ev[1].data_len = 4;
  ev[2].data = NULL; /* empty data is allowed */
  ev[2].data_len = 0;
  CHECK_OK(rewind_store_append(s, B("order-1"), ev, 3, REWIND_EXPECTED_NO_STREAM, 0, &ap));
  CHECK(rewind_appended_count(ap) == 3);
  info = rewind_appended_items(ap);
  CHECK(info != NULL);
  CHECK(BYTES_EQ(info[0].id, info[0].id_len, "order-1-created"));
  CHECK(info[0].version == 0 && info[0].position == 0);
  CHECK(info[1].id_len == 36 && info[1].id[8] == '-' && info[1].id[14] == '7');
  CHECK(info[2].version == 2 && info[2].position == 2);
  CHECK(rewind_appended_at(ap, 2) == &info[2]);
  CHECK(rewind_appended_at(ap, 3) == NULL);
  memcpy(generated, info[1].id, info[1].id_len);
  generated[info[1].id_len] = '\0';
  rewind_appended_free(ap);

  CHECK_OK(append1(s, "order-2", "order-2-created", "x", REWIND_EXPECTED_ANY, 0));

  CHECK_OK(rewind_store_read_stream(s, B("order-1"), 0, SIZE_MAX, &evs));
  CHECK(rewind_events_count(evs) == 3);
  e = rewind_events_items(evs);
  CHECK(e != NULL);
  CHECK(BYTES_EQ(e[0].id, e[0].id_len, "order-1-created"));
  CHECK(BYTES_EQ(e[0].data, e[0].data_len, "{\"total\":3}"));
  CHECK(BYTES_EQ(e[0].stream, e[0].stream_len, "order-1"));
  CHECK(BYTES_EQ(e[1].id, e[1].id_len, generated));
  CHECK(BYTES_EQ(e[1].data, e[1].data_len, "paid"));
  CHECK(e[2].data_len == 0 && e[2].version == 2);
  CHECK(BYTES_EQ(e[2].stream, e[2].stream_len, "order-1"));
  CHECK(rewind_events_at(evs, 1) == &e[1]);
  CHECK(rewind_events_at(evs, 3) == NULL);
  rewind_events_free(evs);

  /* From a version, with a limit. */
  CHECK_OK(rewind_store_read_stream(s, B("order-1"), 1, 1, &evs));
  CHECK(rewind_events_count(evs) == 1 && rewind_events_at(evs, 0)->version == 1);
  rewind_events_free(evs);

  /* A stream that does not exist has no events. */
  CHECK_OK(rewind_store_read_stream(s, B("nope"), 0, SIZE_MAX, &evs));
  CHECK(rewind_events_count(evs) == 0 && rewind_events_items(evs) == NULL);
  rewind_events_free(evs);

  /* The whole log, in commit order, with streams mixed. */
  CHECK_OK(rewind_store_read_log(s, 0, SIZE_MAX, &evs));
  CHECK(rewind_events_count(evs) == 4);
  e = rewind_events_at(evs, 3);
  CHECK(e != NULL && e->position == 3 && e->version == 0);
  CHECK(e != NULL && BYTES_EQ(e->stream, e->stream_len, "order-2"));
  rewind_events_free(evs);
  CHECK_OK(rewind_store_read_log(s, 2, 1, &evs));
  CHECK(rewind_events_count(evs) == 1 && rewind_events_at(evs, 0)->position == 2);
  rewind_events_free(evs);

  /* Lookups by id. */
  CHECK_OK(rewind_store_get(s, B(generated), &evs));
  CHECK(rewind_events_count(evs) == 1);
  e = rewind_events_at(evs, 0);
  CHECK(e != NULL && BYTES_EQ(e->data, e->data_len, "paid") && e->position == 1);
  rewind_events_free(evs);
  CHECK_OK(rewind_store_get(s, B("missing"), &evs));
  CHECK(rewind_events_count(evs) == 0);
  rewind_events_free(evs);
  CHECK_OK(rewind_store_contains(s, B("order-2-created"), &found));
  CHECK(found);
  CHECK_OK(rewind_store_contains(s, B("missing"), &found));
  CHECK(!found);

  CHECK_OK(rewind_store_stream_head(s, B("order-1"), &exists, &version, &position));
  CHECK(exists && version == 2 && position == 2);
  version = 77;
  CHECK_OK(rewind_store_stream_head(s, B("nope"), &exists, &version, &position));
  CHECK(!exists && version == 77);
  CHECK_OK(rewind_store_next_position(s, &next));
  CHECK(next == 4);

  CHECK_OK(rewind_store_close(s));
}

static void test_expected_versions(void) {
  rewind_store *s = memory_store();
  rewind_appended *ap = (rewind_appended *)&ap; /* a sentinel: must stay untouched */
  rewind_appended *const sentinel = ap;
  rewind_new_event e;
  uint64_t next = 0;

  CHECK_STATUS(append1(s, "c", NULL, "a", REWIND_EXPECTED_STREAM_EXISTS, 0),
               REWIND_STATUS_WRONG_EXPECTED_VERSION);
  CHECK(strstr(rewind_last_error_message(), "stream does not exist") != NULL);
  CHECK_STATUS(append1(s, "c", NULL, "a", REWIND_EXPECTED_EXACT, 0),
               REWIND_STATUS_WRONG_EXPECTED_VERSION);
  CHECK_OK(append1(s, "c", NULL, "a", REWIND_EXPECTED_NO_STREAM, 0));
  CHECK(strcmp(rewind_last_error_message(), "") == 0);
  CHECK_STATUS(append1(s, "c", NULL, "b", REWIND_EXPECTED_NO_STREAM, 0),
               REWIND_STATUS_WRONG_EXPECTED_VERSION);
  CHECK(strstr(rewind_last_error_message(), "stream c") != NULL);
  CHECK(strstr(rewind_last_error_message(), "version 0") != NULL);
  CHECK_OK(append1(s, "c", NULL, "b", REWIND_EXPECTED_EXACT, 0));
  CHECK_OK(append1(s, "c", NULL, "c", REWIND_EXPECTED_STREAM_EXISTS, 0));
  CHECK_OK(append1(s, "c", NULL, "d", REWIND_EXPECTED_ANY, 0));
  CHECK_STATUS(append1(s, "c", NULL, "e", REWIND_EXPECTED_EXACT, 2),
               REWIND_STATUS_WRONG_EXPECTED_VERSION);
  CHECK(strstr(rewind_last_error_message(), "stream is at version 3") != NULL);

  /* A failed append writes no output and stores nothing. */
  e.id = NULL;
  e.id_len = 0;
  e.data = (const uint8_t *)"z";
  e.data_len = 1;
  CHECK_STATUS(rewind_store_append(s, B("c"), &e, 1, REWIND_EXPECTED_EXACT, 9, &ap),
               REWIND_STATUS_WRONG_EXPECTED_VERSION);
  CHECK(ap == sentinel);
  CHECK_OK(rewind_store_next_position(s, &next));
  CHECK(next == 4);

  /* An unknown kind is an argument error. */
  CHECK_STATUS(rewind_store_append(s, B("c"), &e, 1, 7, 0, &ap), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(rewind_last_error_message(), "expected-version kind 7") != NULL);
  CHECK(ap == sentinel);
  CHECK_OK(rewind_store_close(s));
}

static void test_duplicate_ids_fail_the_whole_append(void) {
  rewind_store *s = memory_store();
  rewind_new_event ev[2];
  uint64_t next = 0;

  CHECK_OK(append1(s, "a", "id-1", "one", REWIND_EXPECTED_ANY, 0));
  CHECK_STATUS(append1(s, "b", "id-1", "again", REWIND_EXPECTED_ANY, 0),
               REWIND_STATUS_DUPLICATE_ID);
  CHECK(strstr(rewind_last_error_message(), "id-1") != NULL);
  ev[0].id = (const uint8_t *)"id-2";
  ev[0].id_len = 4;
  ev[0].data = (const uint8_t *)"two";
  ev[0].data_len = 3;
  ev[1] = ev[0]; /* the same id twice in one append */
  CHECK_STATUS(rewind_store_append(s, B("a"), ev, 2, REWIND_EXPECTED_ANY, 0, NULL),
               REWIND_STATUS_DUPLICATE_ID);
  CHECK_OK(rewind_store_next_position(s, &next));
  CHECK(next == 1);
  CHECK_OK(rewind_store_close(s));
}

/* Ids e0..e4 in stream "s", and "other-0" in stream "other". */
static rewind_store *query_fixture(void) {
  rewind_store *s = memory_store();
  char id[8];
  int i;
  for (i = 0; i < 5; i++) {
    snprintf(id, sizeof id, "e%d", i);
    CHECK_OK(append1(s, "s", id, id, REWIND_EXPECTED_ANY, 0));
  }
  CHECK_OK(append1(s, "other", "other-0", "x", REWIND_EXPECTED_ANY, 0));
  return s;
}

static void test_range_queries(void) {
  rewind_store *s = query_fixture();
  rewind_events *evs = NULL;
  rewind_events *const sentinel = (rewind_events *)&evs;
  uint64_t start = 99, end = 99;

  /* Open bounds: everything. */
  CHECK_OK(rewind_store_query(s, B("s"), NULL, 0, NULL, 0, SIZE_MAX, &evs));
  CHECK(rewind_events_count(evs) == 5);
  rewind_events_free(evs);
  /* After e1 (exclusive) up to e3 (inclusive). */
  CHECK_OK(rewind_store_query(s, B("s"), B("e1"), B("e3"), SIZE_MAX, &evs));
  CHECK(rewind_events_count(evs) == 2);
  CHECK(BYTES_EQ(rewind_events_at(evs, 0)->id, rewind_events_at(evs, 0)->id_len, "e2"));
  CHECK(BYTES_EQ(rewind_events_at(evs, 1)->id, rewind_events_at(evs, 1)->id_len, "e3"));
  rewind_events_free(evs);
  /* A limit. */
  CHECK_OK(rewind_store_query(s, B("s"), B("e0"), NULL, 0, 2, &evs));
  CHECK(rewind_events_count(evs) == 2);
  CHECK(rewind_events_at(evs, 1)->version == 2);
  rewind_events_free(evs);
  /* from == to: empty. */
  CHECK_OK(rewind_store_query(s, B("s"), B("e2"), B("e2"), SIZE_MAX, &evs));
  CHECK(rewind_events_count(evs) == 0);
  rewind_events_free(evs);

  CHECK_OK(rewind_store_resolve_range(s, B("s"), B("e1"), NULL, 0, &start, &end));
  CHECK(start == 2 && end == 5);

  evs = sentinel;
  CHECK_STATUS(rewind_store_query(s, B("s"), B("nope"), NULL, 0, SIZE_MAX, &evs),
               REWIND_STATUS_UNKNOWN_ID);
  CHECK(strstr(rewind_last_error_message(), "nope") != NULL);
  CHECK_STATUS(rewind_store_query(s, B("s"), NULL, 0, B("other-0"), SIZE_MAX, &evs),
               REWIND_STATUS_ID_NOT_IN_STREAM);
  CHECK_STATUS(rewind_store_query(s, B("s"), B("e3"), B("e1"), SIZE_MAX, &evs),
               REWIND_STATUS_RANGE_ORDER);
  CHECK(evs == sentinel);
  start = end = 42;
  CHECK_STATUS(rewind_store_resolve_range(s, B("s"), B("e3"), B("e1"), &start, &end),
               REWIND_STATUS_RANGE_ORDER);
  CHECK(start == 42 && end == 42);
  CHECK_OK(rewind_store_close(s));
}

struct collected {
  int count;
  int stop_after;
  uint64_t versions[16];
  char last_id[256];
};

static bool collect(void *userdata, const rewind_event *e) {
  struct collected *c = (struct collected *)userdata;
  if (c->count < 16) c->versions[c->count] = e->version;
  memcpy(c->last_id, e->id, e->id_len);
  c->last_id[e->id_len] = '\0';
  c->count++;
  return c->stop_after == 0 || c->count < c->stop_after;
}

static void test_visitors_borrow_without_copying(void) {
  rewind_store *s = query_fixture();
  struct collected c;

  memset(&c, 0, sizeof c);
  CHECK_OK(rewind_store_read_stream_visit(s, B("s"), 1, SIZE_MAX, collect, &c));
  CHECK(c.count == 4 && c.versions[0] == 1 && c.versions[3] == 4);
  CHECK(strcmp(c.last_id, "e4") == 0);

  memset(&c, 0, sizeof c);
  c.stop_after = 2; /* the visitor stops the read */
  CHECK_OK(rewind_store_read_log_visit(s, 0, SIZE_MAX, collect, &c));
  CHECK(c.count == 2 && strcmp(c.last_id, "e1") == 0);

  memset(&c, 0, sizeof c);
  CHECK_OK(rewind_store_read_log_visit(s, 3, SIZE_MAX, collect, &c));
  CHECK(c.count == 3 && strcmp(c.last_id, "other-0") == 0);

  memset(&c, 0, sizeof c);
  CHECK_OK(rewind_store_query_visit(s, B("s"), B("e2"), NULL, 0, SIZE_MAX, collect, &c));
  CHECK(c.count == 2 && c.versions[0] == 3);

  memset(&c, 0, sizeof c);
  CHECK_STATUS(rewind_store_query_visit(s, B("s"), B("zzz"), NULL, 0, SIZE_MAX, collect, &c),
               REWIND_STATUS_UNKNOWN_ID);
  CHECK(c.count == 0);
  CHECK_OK(rewind_store_close(s));
}

/* Every function that takes a stream name or an event id refuses one that
 * is not 1 to 255 bytes long, as appends do, and writes no output. */
static void test_names_and_ids_are_checked_everywhere(void) {
  rewind_store *s = query_fixture();
  rewind_events *evs = NULL;
  rewind_events *const sentinel = (rewind_events *)&evs;
  struct collected c;
  uint64_t start = 42, end = 42, version = 42, position = 42;
  bool flag = true;
  uint8_t long_name[256];
  const uint8_t *empty = (const uint8_t *)"";
  size_t lengths[2];
  size_t i;

  memset(long_name, 'n', sizeof long_name);
  lengths[0] = 0;
  lengths[1] = 256;
  memset(&c, 0, sizeof c);
  evs = sentinel;

#define REFUSED(call, what)                                            \
  do {                                                                 \
    CHECK_STATUS(call, REWIND_STATUS_INVALID_ARGUMENT);                \
    CHECK(strstr(rewind_last_error_message(), what) != NULL);          \
  } while (0)

  for (i = 0; i < 2; i++) {
    /* A name or id of `n` bytes: the empty string or 256 bytes. */
    const uint8_t *bad = lengths[i] == 0 ? empty : long_name;
    size_t n = lengths[i];

    REFUSED(rewind_store_read_stream(s, bad, n, 0, SIZE_MAX, &evs), "stream name");
    REFUSED(rewind_store_read_stream_visit(s, bad, n, 0, SIZE_MAX, collect, &c), "stream name");
    REFUSED(rewind_store_query(s, bad, n, NULL, 0, NULL, 0, SIZE_MAX, &evs), "stream name");
    REFUSED(rewind_store_query_visit(s, bad, n, NULL, 0, NULL, 0, SIZE_MAX, collect, &c),
            "stream name");
    REFUSED(rewind_store_resolve_range(s, bad, n, NULL, 0, NULL, 0, &start, &end),
            "stream name");
    REFUSED(rewind_store_stream_head(s, bad, n, &flag, &version, &position), "stream name");

    REFUSED(rewind_store_query(s, B("s"), bad, n, NULL, 0, SIZE_MAX, &evs), "from_id");
    REFUSED(rewind_store_query(s, B("s"), NULL, 0, bad, n, SIZE_MAX, &evs), "to_id");
    REFUSED(rewind_store_query(s, B("s"), B("e1"), bad, n, SIZE_MAX, &evs), "to_id");
    REFUSED(rewind_store_query_visit(s, B("s"), bad, n, NULL, 0, SIZE_MAX, collect, &c),
            "from_id");
    REFUSED(rewind_store_query_visit(s, B("s"), NULL, 0, bad, n, SIZE_MAX, collect, &c),
            "to_id");
    REFUSED(rewind_store_resolve_range(s, B("s"), bad, n, NULL, 0, &start, &end), "from_id");
    REFUSED(rewind_store_resolve_range(s, B("s"), NULL, 0, bad, n, &start, &end), "to_id");
    REFUSED(rewind_store_get(s, bad, n, &evs), "event id");
    REFUSED(rewind_store_contains(s, bad, n, &flag), "event id");
    /* The message says how long it was. */
    CHECK(strstr(rewind_last_error_message(), n == 0 ? "not 0" : "not 256") != NULL);
  }
#undef REFUSED

  CHECK(evs == sentinel && c.count == 0 && flag);
  CHECK(start == 42 && end == 42 && version == 42 && position == 42);

  /* The longest name and id are fine: an empty stream, an unknown id. */
  CHECK_OK(rewind_store_read_stream(s, long_name, 255, 0, SIZE_MAX, &evs));
  CHECK(rewind_events_count(evs) == 0);
  rewind_events_free(evs);
  CHECK_OK(rewind_store_contains(s, long_name, 255, &flag));
  CHECK(!flag);
  CHECK_OK(rewind_store_stream_head(s, long_name, 255, &flag, &version, &position));
  CHECK(!flag);
  CHECK_STATUS(rewind_store_query(s, B("s"), long_name, 255, NULL, 0, SIZE_MAX, &evs),
               REWIND_STATUS_UNKNOWN_ID);
  CHECK_OK(rewind_store_close(s));
}

/* A path goes to the operating system byte for byte: one that is not UTF-8
 * opens, and names the directory with exactly those bytes. */
static void test_a_path_that_is_not_utf8(void) {
  char dir[512];
  char path[600];
  struct stat st;
  rewind_store *s = NULL;
  rewind_events *evs = NULL;

  CHECK(make_temp_dir(dir, sizeof dir) != NULL);
  /* "store-\xe9\xff": Latin-1 e-acute, then a byte UTF-8 never has. */
  snprintf(path, sizeof path, "%s/store-\xe9\xff", dir);
  CHECK_OK(rewind_store_open_lmdb(path, 0, 0, false, &s));
  CHECK_OK(append1(s, "latin", "l-0", "caf\xe9", REWIND_EXPECTED_NO_STREAM, 0));
  CHECK_OK(rewind_store_close(s));
  CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
  snprintf(path, sizeof path, "%s/store-\xe9\xff/data.mdb", dir);
  CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode));

  s = NULL;
  snprintf(path, sizeof path, "%s/store-\xe9\xff", dir);
  CHECK_OK(rewind_store_open_lmdb(path, 0, 0, true, &s));
  CHECK_OK(rewind_store_get(s, B("l-0"), &evs));
  CHECK(rewind_events_count(evs) == 1);
  CHECK(BYTES_EQ(rewind_events_at(evs, 0)->data, rewind_events_at(evs, 0)->data_len,
                 "caf\xe9"));
  rewind_events_free(evs);
  CHECK_OK(rewind_store_close(s));

  /* Errors about such a path still come as a message of valid text. */
  snprintf(path, sizeof path, "%s/missing-\xff", dir);
  CHECK(rewind_store_open_lmdb(path, 0, 0, true, &s) != REWIND_STATUS_OK);
  CHECK(strlen(rewind_last_error_message()) > 0);
  CHECK(remove_tree(dir) == 0);
}

static void test_lmdb_round_trip_and_read_only(void) {
  char dir[512];
  rewind_store *s = NULL;
  rewind_events *evs = NULL;
  uint64_t next = 0;

  CHECK(make_temp_dir(dir, sizeof dir) != NULL);
  CHECK_OK(rewind_store_open_lmdb(dir, 1 << 20, 0, false, &s));
  CHECK_OK(append1(s, "persisted", "p-0", "durable", REWIND_EXPECTED_NO_STREAM, 0));
  CHECK_OK(append1(s, "persisted", "p-1", "still here", REWIND_EXPECTED_EXACT, 0));
  /* A read result owns its bytes: it outlives the store. */
  CHECK_OK(rewind_store_read_stream(s, B("persisted"), 0, SIZE_MAX, &evs));
  CHECK_OK(rewind_store_close(s));
  CHECK(rewind_events_count(evs) == 2);
  CHECK(BYTES_EQ(rewind_events_at(evs, 1)->data, rewind_events_at(evs, 1)->data_len,
                 "still here"));
  rewind_events_free(evs);

  s = NULL;
  CHECK_OK(rewind_store_open_lmdb(dir, 0, 0, true, &s));
  CHECK_OK(rewind_store_next_position(s, &next));
  CHECK(next == 2);
  CHECK_OK(rewind_store_get(s, B("p-1"), &evs));
  CHECK(rewind_events_count(evs) == 1);
  CHECK(BYTES_EQ(rewind_events_at(evs, 0)->data, rewind_events_at(evs, 0)->data_len,
                 "still here"));
  rewind_events_free(evs);
  CHECK_STATUS(append1(s, "persisted", NULL, "no", REWIND_EXPECTED_ANY, 0),
               REWIND_STATUS_READ_ONLY);
  CHECK_OK(rewind_store_close(s));
  CHECK(remove_tree(dir) == 0);
}

static void test_storage_full_is_reported(void) {
  char dir[512];
  rewind_store *s = NULL;
  rewind_new_event e;
  uint8_t *big = (uint8_t *)calloc(1, 4 << 20);
  uint64_t next = 99;

  CHECK(big != NULL);
  CHECK(make_temp_dir(dir, sizeof dir) != NULL);
  CHECK_OK(rewind_store_open_lmdb(dir, 1 << 20, 2 << 20, false, &s));
  e.id = NULL;
  e.id_len = 0;
  e.data = big;
  e.data_len = 4 << 20;
  CHECK_STATUS(rewind_store_append(s, B("big"), &e, 1, REWIND_EXPECTED_ANY, 0, NULL),
               REWIND_STATUS_STORAGE_FULL);
  /* Reads keep working, and a small append still fits. */
  CHECK_OK(append1(s, "small", NULL, "fits", REWIND_EXPECTED_ANY, 0));
  CHECK_OK(rewind_store_next_position(s, &next));
  CHECK(next == 1);
  CHECK_OK(rewind_store_close(s));
  CHECK(remove_tree(dir) == 0);
  free(big);
}

static void test_open_errors(void) {
  char dir[512];
  char file[600];
  rewind_store *s = (rewind_store *)&s;
  rewind_store *const sentinel = s;
  FILE *f;

  CHECK(make_temp_dir(dir, sizeof dir) != NULL);
  snprintf(file, sizeof file, "%s/plain-file", dir);
  f = fopen(file, "w");
  CHECK(f != NULL);
  if (f) {
    fputs("not a store\n", f);
    fclose(f);
  }
  CHECK_STATUS(rewind_store_open_lmdb(file, 0, 0, false, &s), REWIND_STATUS_IO);
  CHECK(strlen(rewind_last_error_message()) > 0);
  CHECK_STATUS(rewind_store_open_lmdb("", 0, 0, false, &s), REWIND_STATUS_INVALID_ARGUMENT);
  snprintf(file, sizeof file, "%s/missing", dir);
  /* Read-only does not create the directory. */
  CHECK(rewind_store_open_lmdb(file, 0, 0, true, &s) != REWIND_STATUS_OK);
  CHECK(s == sentinel);
  CHECK(remove_tree(dir) == 0);
}

static void test_null_parameters(void) {
  rewind_store *s = memory_store();
  rewind_store *out_store = NULL;
  rewind_events *evs = NULL;
  rewind_new_event e;
  uint64_t u = 0, u2 = 0;
  bool b = false;
  struct collected c;

  e.id = NULL;
  e.id_len = 0;
  e.data = (const uint8_t *)"d";
  e.data_len = 1;
  memset(&c, 0, sizeof c);

#define NULL_PARAM(call, what)                                        \
  do {                                                                \
    CHECK_STATUS(call, REWIND_STATUS_NULL_PARAMETER);                 \
    CHECK(strstr(rewind_last_error_message(), what) != NULL);         \
  } while (0)

  NULL_PARAM(rewind_store_open_lmdb(NULL, 0, 0, false, &out_store), "path");
  NULL_PARAM(rewind_store_open_lmdb("/tmp/x", 0, 0, false, NULL), "out");
  NULL_PARAM(rewind_store_open_in_memory(NULL), "out");

  NULL_PARAM(rewind_store_append(NULL, B("s"), &e, 1, REWIND_EXPECTED_ANY, 0, NULL), "store");
  NULL_PARAM(rewind_store_append(s, NULL, 1, &e, 1, REWIND_EXPECTED_ANY, 0, NULL), "stream");
  NULL_PARAM(rewind_store_append(s, NULL, 0, &e, 1, REWIND_EXPECTED_ANY, 0, NULL), "stream");
  NULL_PARAM(rewind_store_append(s, B("s"), NULL, 1, REWIND_EXPECTED_ANY, 0, NULL), "events");
  /* NULL with a count of 0 is an empty array: an argument error. */
  CHECK_STATUS(rewind_store_append(s, B("s"), NULL, 0, REWIND_EXPECTED_ANY, 0, NULL),
               REWIND_STATUS_INVALID_ARGUMENT);
  e.data = NULL; /* NULL data with a length */
  NULL_PARAM(rewind_store_append(s, B("s"), &e, 1, REWIND_EXPECTED_ANY, 0, NULL), "data");
  e.data = (const uint8_t *)"d";

  NULL_PARAM(rewind_store_read_stream(NULL, B("s"), 0, 1, &evs), "store");
  NULL_PARAM(rewind_store_read_stream(s, NULL, 1, 0, 1, &evs), "stream");
  NULL_PARAM(rewind_store_read_stream(s, B("s"), 0, 1, NULL), "out");
  NULL_PARAM(rewind_store_read_stream_visit(NULL, B("s"), 0, 1, collect, &c), "store");
  NULL_PARAM(rewind_store_read_stream_visit(s, NULL, 1, 0, 1, collect, &c), "stream");
  NULL_PARAM(rewind_store_read_stream_visit(s, B("s"), 0, 1, NULL, &c), "visitor");
  NULL_PARAM(rewind_store_read_log(NULL, 0, 1, &evs), "store");
  NULL_PARAM(rewind_store_read_log(s, 0, 1, NULL), "out");
  NULL_PARAM(rewind_store_read_log_visit(NULL, 0, 1, collect, &c), "store");
  NULL_PARAM(rewind_store_read_log_visit(s, 0, 1, NULL, &c), "visitor");
  NULL_PARAM(rewind_store_query(NULL, B("s"), NULL, 0, NULL, 0, 1, &evs), "store");
  NULL_PARAM(rewind_store_query(s, NULL, 1, NULL, 0, NULL, 0, 1, &evs), "stream");
  NULL_PARAM(rewind_store_query(s, B("s"), NULL, 0, NULL, 0, 1, NULL), "out");
  NULL_PARAM(rewind_store_query_visit(NULL, B("s"), NULL, 0, NULL, 0, 1, collect, &c), "store");
  NULL_PARAM(rewind_store_query_visit(s, NULL, 1, NULL, 0, NULL, 0, 1, collect, &c), "stream");
  NULL_PARAM(rewind_store_query_visit(s, B("s"), NULL, 0, NULL, 0, 1, NULL, &c), "visitor");
  NULL_PARAM(rewind_store_resolve_range(NULL, B("s"), NULL, 0, NULL, 0, &u, &u2), "store");
  NULL_PARAM(rewind_store_resolve_range(s, NULL, 1, NULL, 0, NULL, 0, &u, &u2), "stream");
  NULL_PARAM(rewind_store_resolve_range(s, B("s"), NULL, 0, NULL, 0, NULL, &u2), "out_start");
  NULL_PARAM(rewind_store_resolve_range(s, B("s"), NULL, 0, NULL, 0, &u, NULL), "out_end");
  NULL_PARAM(rewind_store_get(NULL, B("i"), &evs), "store");
  NULL_PARAM(rewind_store_get(s, NULL, 1, &evs), "id");
  NULL_PARAM(rewind_store_get(s, B("i"), NULL), "out");
  NULL_PARAM(rewind_store_contains(NULL, B("i"), &b), "store");
  NULL_PARAM(rewind_store_contains(s, NULL, 1, &b), "id");
  NULL_PARAM(rewind_store_contains(s, B("i"), NULL), "out");
  NULL_PARAM(rewind_store_stream_head(NULL, B("s"), &b, &u, &u2), "store");
  NULL_PARAM(rewind_store_stream_head(s, NULL, 1, &b, &u, &u2), "stream");
  NULL_PARAM(rewind_store_stream_head(s, B("s"), NULL, &u, &u2), "out_exists");
  NULL_PARAM(rewind_store_stream_head(s, B("s"), &b, NULL, &u2), "out_version");
  NULL_PARAM(rewind_store_stream_head(s, B("s"), &b, &u, NULL), "out_position");
  NULL_PARAM(rewind_store_next_position(NULL, &u), "store");
  NULL_PARAM(rewind_store_next_position(s, NULL), "out");
#undef NULL_PARAM

  /* No output was written by any of them. */
  CHECK(out_store == NULL && evs == NULL && u == 0 && u2 == 0 && !b && c.count == 0);

  /* Releasing NULL does nothing; accessors of NULL are empty. */
  CHECK_OK(rewind_store_close(NULL));
  rewind_events_free(NULL);
  rewind_appended_free(NULL);
  CHECK(rewind_events_count(NULL) == 0);
  CHECK(rewind_events_items(NULL) == NULL);
  CHECK(rewind_events_at(NULL, 0) == NULL);
  CHECK(rewind_appended_count(NULL) == 0);
  CHECK(rewind_appended_items(NULL) == NULL);
  CHECK(rewind_appended_at(NULL, 0) == NULL);
  CHECK_OK(rewind_store_close(s));
}

static void test_bad_arguments(void) {
  rewind_store *s = memory_store();
  rewind_new_event e;
  char name[300];
  rewind_events *evs = NULL;

  memset(name, 'n', sizeof name);
  name[256] = '\0';
  e.id = NULL;
  e.id_len = 0;
  e.data = (const uint8_t *)"d";
  e.data_len = 1;

  /* Empty stream names, and names of 256 bytes. */
  CHECK_STATUS(rewind_store_append(s, (const uint8_t *)"", 0, &e, 1, REWIND_EXPECTED_ANY, 0,
                                   NULL),
               REWIND_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(rewind_last_error_message(), "stream name") != NULL);
  CHECK_STATUS(append1(s, name, NULL, "d", REWIND_EXPECTED_ANY, 0),
               REWIND_STATUS_INVALID_ARGUMENT);
  name[255] = '\0';
  CHECK_OK(append1(s, name, NULL, "d", REWIND_EXPECTED_ANY, 0));
  /* Ids: empty and 256 bytes. */
  e.id = (const uint8_t *)"";
  CHECK_STATUS(rewind_store_append(s, B("s"), &e, 1, REWIND_EXPECTED_ANY, 0, NULL),
               REWIND_STATUS_INVALID_ARGUMENT);
  memset(name, 'i', sizeof name);
  name[256] = '\0';
  CHECK_STATUS(append1(s, "s", name, "d", REWIND_EXPECTED_ANY, 0),
               REWIND_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(rewind_last_error_message(), "event id") != NULL);
  /* An append of no events. */
  CHECK_STATUS(rewind_store_append(s, B("s"), &e, 0, REWIND_EXPECTED_ANY, 0, NULL),
               REWIND_STATUS_INVALID_ARGUMENT);
  /* A length no buffer can have. */
  CHECK_STATUS(rewind_store_read_stream(s, (const uint8_t *)"s", SIZE_MAX, 0, 1, &evs),
               REWIND_STATUS_INVALID_ARGUMENT);
  CHECK(evs == NULL);
  /* A success clears the message. */
  CHECK_OK(rewind_store_read_log(s, 0, 0, &evs));
  CHECK(strcmp(rewind_last_error_message(), "") == 0);
  CHECK(rewind_events_count(evs) == 0);
  rewind_events_free(evs);
  CHECK_OK(rewind_store_close(s));
}

struct writer {
  rewind_store *store;
  int index;
  int failures;
};

enum { WRITERS = 4, APPENDS_PER_WRITER = 25 };

static void *write_stream(void *arg) {
  struct writer *w = (struct writer *)arg;
  char stream[32];
  uint64_t v;
  snprintf(stream, sizeof stream, "writer-%d", w->index);
  for (v = 0; v < APPENDS_PER_WRITER; v++) {
    rewind_status st =
        v == 0 ? append1(w->store, stream, NULL, "e", REWIND_EXPECTED_NO_STREAM, 0)
               : append1(w->store, stream, NULL, "e", REWIND_EXPECTED_EXACT, v - 1);
    if (st != REWIND_STATUS_OK) w->failures++;
  }
  return NULL;
}

static void test_one_handle_many_threads(void) {
  char dir[512];
  rewind_store *s = NULL;
  pthread_t threads[WRITERS];
  struct writer writers[WRITERS];
  rewind_events *evs = NULL;
  size_t i;
  int t;

  CHECK(make_temp_dir(dir, sizeof dir) != NULL);
  CHECK_OK(rewind_store_open_lmdb(dir, 0, 0, false, &s));
  for (t = 0; t < WRITERS; t++) {
    writers[t].store = s;
    writers[t].index = t;
    writers[t].failures = 0;
    CHECK(pthread_create(&threads[t], NULL, write_stream, &writers[t]) == 0);
  }
  for (t = 0; t < WRITERS; t++) {
    CHECK(pthread_join(threads[t], NULL) == 0);
    CHECK(writers[t].failures == 0);
  }
  CHECK_OK(rewind_store_read_log(s, 0, SIZE_MAX, &evs));
  CHECK(rewind_events_count(evs) == WRITERS * APPENDS_PER_WRITER);
  for (i = 0; i < rewind_events_count(evs); i++) {
    CHECK(rewind_events_at(evs, i)->position == i);
  }
  rewind_events_free(evs);
  CHECK_OK(rewind_store_read_stream(s, B("writer-2"), 0, SIZE_MAX, &evs));
  CHECK(rewind_events_count(evs) == APPENDS_PER_WRITER);
  rewind_events_free(evs);
  CHECK_OK(rewind_store_close(s));
  CHECK(remove_tree(dir) == 0);
}

int main(void) {
  RUN(test_version_and_status_texts);
  RUN(test_in_memory_round_trip);
  RUN(test_expected_versions);
  RUN(test_duplicate_ids_fail_the_whole_append);
  RUN(test_range_queries);
  RUN(test_visitors_borrow_without_copying);
  RUN(test_names_and_ids_are_checked_everywhere);
  RUN(test_a_path_that_is_not_utf8);
  RUN(test_lmdb_round_trip_and_read_only);
  RUN(test_storage_full_is_reported);
  RUN(test_open_errors);
  RUN(test_null_parameters);
  RUN(test_bad_arguments);
  RUN(test_one_handle_many_threads);
  return FINISH();
}
