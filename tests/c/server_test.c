/* Tests of the in-process server of the C ABI, through real ZeroMQ sockets
 * on 127.0.0.1: both wire protocols, the streaming sockets, the exit
 * codeword, stop and wait, and every error path of starting a server.
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#define _XOPEN_SOURCE 700

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "rewind.h"
#include "util.h"
#include "zmq_client.h"

/* The four endpoints of a test server, on consecutive ports. */
struct endpoints {
  int port;
  char query[64], streaming[64], command[64], publish[64];
};

static int next_port;

static void set_endpoints(rewind_server_options *o, struct endpoints *ep, int port) {
  ep->port = port;
  snprintf(ep->query, sizeof ep->query, "tcp://127.0.0.1:%d", port);
  snprintf(ep->streaming, sizeof ep->streaming, "tcp://127.0.0.1:%d", port + 1);
  snprintf(ep->command, sizeof ep->command, "tcp://127.0.0.1:%d", port + 2);
  snprintf(ep->publish, sizeof ep->publish, "tcp://127.0.0.1:%d", port + 3);
  CHECK_OK(rewind_server_options_set_query_endpoints(o, ep->query));
  CHECK_OK(rewind_server_options_set_streaming_endpoints(o, ep->streaming));
  CHECK_OK(rewind_server_options_set_command_endpoints(o, ep->command));
  CHECK_OK(rewind_server_options_set_publish_endpoints(o, ep->publish));
}

/* Starts a server on `store` (or on the LMDB directory `path` when store is
 * NULL), on four free ports: a port taken by another program is a CONFIG
 * error, and the next ports are tried. */
static rewind_server *start_server(rewind_store *store, const char *path,
                                   rewind_server_options *o, struct endpoints *ep) {
  int attempt;
  for (attempt = 0; attempt < 40; attempt++) {
    rewind_server *server = NULL;
    rewind_status st;
    if (next_port == 0) next_port = 20000 + (int)(getpid() % 2000) * 16;
    set_endpoints(o, ep, next_port);
    next_port += 4;
    st = store ? rewind_server_start(store, o, &server)
               : rewind_server_start_lmdb(path, 0, o, &server);
    if (st == REWIND_STATUS_OK) return server;
    if (st != REWIND_STATUS_BIND || strstr(rewind_last_error_message(), "bind") == NULL) {
      fprintf(stderr, "starting a server failed: %s\n", rewind_last_error_message());
      CHECK(0);
      return NULL;
    }
  }
  CHECK(0);
  return NULL;
}

static void sleep_ms(long ms) {
  struct timespec t;
  t.tv_sec = ms / 1000;
  t.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

#define FRAME_IS(f, i, s) ((f).count > (i) && strcmp((f).data[i], (s)) == 0)

static void test_both_protocols_share_the_store(void) {
  rewind_store *store = NULL;
  rewind_server_options *o = NULL;
  rewind_server *server;
  rewind_server_state state = REWIND_SERVER_STATE_RUNNING;
  rewind_events *evs = NULL;
  rewind_new_event e;
  struct endpoints ep;
  struct frames f;
  char v1_id[64] = "";
  char v2_id[64] = "";
  void *ctx = zmq_ctx_new();
  void *req, *dealer, *v1_sub, *v2_sub;

  CHECK_OK(rewind_store_open_in_memory(&store));
  CHECK_OK(rewind_server_options_new(&o));
  server = start_server(store, NULL, o, &ep);
  if (server == NULL) goto out;

  req = client_socket(ctx, ZMQ_REQ, ep.query);
  dealer = client_socket(ctx, ZMQ_DEALER, ep.command);
  v1_sub = client_socket(ctx, ZMQ_SUB, ep.streaming);
  v2_sub = client_socket(ctx, ZMQ_SUB, ep.publish);
  CHECK(req && dealer && v1_sub && v2_sub);
  sleep_ms(500); /* let the subscriptions reach the PUB sockets */

  /* v1: PUBLISH to the default stream. */
  CHECK(send_strings(req, 2, "PUBLISH", "hello v1") == 0);
  CHECK(recv_frames(req, &f) == 1 && FRAME_IS(f, 0, "PUBLISHED"));
  CHECK(recv_frames(v1_sub, &f) == 3);
  CHECK(f.len[0] == 36 && f.len[1] == 0 && FRAME_IS(f, 2, "hello v1"));
  strcpy(v1_id, f.data[0]);
  CHECK(recv_frames(v2_sub, &f) == 3);
  CHECK(FRAME_IS(f, 0, "default") && FRAME_IS(f, 1, v1_id) && FRAME_IS(f, 2, "hello v1"));

  /* The in-process handle sees it... */
  CHECK_OK(rewind_store_read_stream(store, B("default"), 0, SIZE_MAX, &evs));
  CHECK(rewind_events_count(evs) == 1);
  if (rewind_events_count(evs) == 1) {
    const rewind_event *ev = rewind_events_at(evs, 0);
    CHECK(BYTES_EQ(ev->id, ev->id_len, v1_id));
  }
  rewind_events_free(evs);

  /* ...and an append through the ABI reaches the wire. */
  e.id = (const uint8_t *)"c-1";
  e.id_len = 3;
  e.data = (const uint8_t *)"from C";
  e.data_len = 6;
  CHECK_OK(rewind_store_append(store, B("default"), &e, 1, REWIND_EXPECTED_EXACT, 0, NULL));
  CHECK(recv_frames(v1_sub, &f) == 3);
  CHECK(FRAME_IS(f, 0, "c-1") && FRAME_IS(f, 1, v1_id) && FRAME_IS(f, 2, "from C"));
  CHECK(recv_frames(v2_sub, &f) == 3 && FRAME_IS(f, 1, "c-1"));

  /* v1: QUERY everything, and after the first event. */
  CHECK(send_strings(req, 3, "QUERY", "", "") == 0);
  CHECK(recv_frames(req, &f) == 5);
  CHECK(FRAME_IS(f, 0, v1_id) && FRAME_IS(f, 1, "hello v1"));
  CHECK(FRAME_IS(f, 2, "c-1") && FRAME_IS(f, 3, "from C") && FRAME_IS(f, 4, "END"));
  CHECK(send_strings(req, 3, "QUERY", v1_id, "") == 0);
  CHECK(recv_frames(req, &f) == 3 && FRAME_IS(f, 0, "c-1") && FRAME_IS(f, 2, "END"));

  /* v2: PUBLISH to a named stream, then QUERY it. */
  CHECK(send_strings(dealer, 4, "", "PUBLISH", "orders", "o1") == 0);
  CHECK(recv_frames(dealer, &f) == 3 && FRAME_IS(f, 0, "") && FRAME_IS(f, 1, "PUBLISHED"));
  CHECK(f.len[2] == 36);
  strcpy(v2_id, f.data[2]);
  CHECK(recv_frames(v2_sub, &f) == 3);
  CHECK(FRAME_IS(f, 0, "orders") && FRAME_IS(f, 1, v2_id) && FRAME_IS(f, 2, "o1"));
  CHECK(send_strings(dealer, 5, "", "QUERY", "orders", "", "") == 0);
  CHECK(recv_frames(dealer, &f) == 4);
  CHECK(FRAME_IS(f, 1, "EVENT") && FRAME_IS(f, 2, v2_id) && FRAME_IS(f, 3, "o1"));
  CHECK(recv_frames(dealer, &f) == 2 && FRAME_IS(f, 1, "END"));

  /* An event published through v1 is visible through v2 with its id. */
  CHECK(send_strings(dealer, 5, "", "QUERY", "default", "", v1_id) == 0);
  CHECK(recv_frames(dealer, &f) == 4 && FRAME_IS(f, 2, v1_id) && FRAME_IS(f, 3, "hello v1"));
  CHECK(recv_frames(dealer, &f) == 2 && FRAME_IS(f, 1, "END"));

  /* Errors are replies, never a hang. */
  CHECK(send_strings(req, 3, "QUERY", "no-such-id", "") == 0);
  CHECK(recv_frames(req, &f) == 1 && strncmp(f.data[0], "ERROR ", 6) == 0);
  CHECK(send_strings(req, 1, "BOGUS") == 0);
  CHECK(recv_frames(req, &f) == 1 && strncmp(f.data[0], "ERROR ", 6) == 0);
  CHECK(send_strings(dealer, 5, "", "QUERY", "orders", "no-such-id", "") == 0);
  CHECK(recv_frames(dealer, &f) == 2 && strncmp(f.data[1], "ERROR ", 6) == 0);

  zmq_close(req);
  zmq_close(dealer);
  zmq_close(v1_sub);
  zmq_close(v2_sub);

  CHECK_OK(rewind_server_stop(server));
  CHECK_OK(rewind_server_wait(server, -1, &state));
  CHECK(state == REWIND_SERVER_STATE_STOPPED);
  rewind_server_free(server);
out:
  rewind_server_options_free(o);
  CHECK_OK(rewind_store_close(store));
  zmq_ctx_term(ctx);
}

static void test_exit_codeword_stops_the_server(void) {
  rewind_store *store = NULL;
  rewind_server_options *o = NULL;
  rewind_server *server;
  rewind_server_state state = REWIND_SERVER_STATE_RUNNING;
  struct endpoints ep;
  struct frames f;
  void *ctx = zmq_ctx_new();
  void *req;

  CHECK_OK(rewind_store_open_in_memory(&store));
  CHECK_OK(rewind_server_options_new(&o));
  CHECK_OK(rewind_server_options_set_exit_codeword(o, B("please-quit")));
  server = start_server(store, NULL, o, &ep);
  rewind_server_options_free(o); /* the server copied what it needs */
  if (server != NULL) {
    CHECK_OK(rewind_server_wait(server, 0, &state));
    CHECK(state == REWIND_SERVER_STATE_RUNNING);
    req = client_socket(ctx, ZMQ_REQ, ep.query);
    CHECK(send_strings(req, 1, "please-quit") == 0);
    CHECK(recv_frames(req, &f) == 1 && FRAME_IS(f, 0, "QUIT"));
    zmq_close(req);
    CHECK_OK(rewind_server_wait(server, 30000, &state));
    CHECK(state == REWIND_SERVER_STATE_EXIT_CODEWORD);
    /* Waiting again tells the same. */
    state = REWIND_SERVER_STATE_RUNNING;
    CHECK_OK(rewind_server_wait(server, 0, &state));
    CHECK(state == REWIND_SERVER_STATE_EXIT_CODEWORD);
    CHECK_OK(rewind_server_stop(server)); /* harmless once stopped */
    rewind_server_free(server);
  }
  CHECK_OK(rewind_store_close(store));
  zmq_ctx_term(ctx);
}

static void test_wait_times_out_while_running(void) {
  rewind_store *store = NULL;
  rewind_server_options *o = NULL;
  rewind_server *server;
  rewind_server_state state = REWIND_SERVER_STATE_STOPPED;
  struct endpoints ep;

  CHECK_OK(rewind_store_open_in_memory(&store));
  CHECK_OK(rewind_server_options_new(&o));
  server = start_server(store, NULL, o, &ep);
  if (server != NULL) {
    CHECK_OK(rewind_server_wait(server, 50, &state));
    CHECK(state == REWIND_SERVER_STATE_RUNNING);
    CHECK_OK(rewind_server_stop(server));
    CHECK_OK(rewind_server_stop(server));
    CHECK_OK(rewind_server_wait(server, -1, &state));
    CHECK(state == REWIND_SERVER_STATE_STOPPED);
    rewind_server_free(server);
  }
  /* Freeing a running server stops it. */
  server = start_server(store, NULL, o, &ep);
  rewind_server_free(server);
  rewind_server_options_free(o);
  CHECK_OK(rewind_store_close(store));
}

struct waiter {
  rewind_server *server;
  rewind_status status;
  rewind_server_state state;
};

static void *wait_forever(void *arg) {
  struct waiter *w = (struct waiter *)arg;
  w->status = rewind_server_wait(w->server, -1, &w->state);
  return NULL;
}

static void test_several_threads_wait_for_one_server(void) {
  rewind_store *store = NULL;
  rewind_server_options *o = NULL;
  rewind_server *server;
  struct waiter waiters[3];
  pthread_t threads[3];
  struct endpoints ep;
  struct frames f;
  void *ctx = zmq_ctx_new();
  void *req;
  int i;

  CHECK_OK(rewind_store_open_in_memory(&store));
  CHECK_OK(rewind_server_options_new(&o));
  CHECK_OK(rewind_server_options_set_exit_codeword(o, B("stop")));
  server = start_server(store, NULL, o, &ep);
  if (server != NULL) {
    for (i = 0; i < 3; i++) {
      waiters[i].server = server;
      waiters[i].status = REWIND_STATUS_OTHER;
      waiters[i].state = REWIND_SERVER_STATE_RUNNING;
      CHECK(pthread_create(&threads[i], NULL, wait_forever, &waiters[i]) == 0);
    }
    sleep_ms(100);
    req = client_socket(ctx, ZMQ_REQ, ep.query);
    CHECK(send_strings(req, 1, "stop") == 0);
    CHECK(recv_frames(req, &f) == 1 && FRAME_IS(f, 0, "QUIT"));
    zmq_close(req);
    for (i = 0; i < 3; i++) {
      CHECK(pthread_join(threads[i], NULL) == 0);
      /* Every waiter learns why the server stopped. */
      CHECK(waiters[i].status == REWIND_STATUS_OK);
      CHECK(waiters[i].state == REWIND_SERVER_STATE_EXIT_CODEWORD);
    }
    rewind_server_free(server);
  }
  rewind_server_options_free(o);
  CHECK_OK(rewind_store_close(store));
  zmq_ctx_term(ctx);
}

static void test_server_on_an_lmdb_directory(void) {
  char dir[512];
  char path[600];
  rewind_server_options *o = NULL;
  rewind_server *server;
  rewind_store *store = NULL;
  rewind_events *evs = NULL;
  struct endpoints ep;
  struct frames f;
  char id[64] = "";
  void *ctx = zmq_ctx_new();
  void *dealer;

  CHECK(make_temp_dir(dir, sizeof dir) != NULL);
  snprintf(path, sizeof path, "%s/data", dir);
  CHECK_OK(rewind_server_options_new(&o));
  CHECK_OK(rewind_server_options_set_default_stream(o, B("main")));
  server = start_server(NULL, path, o, &ep);
  if (server != NULL) {
    dealer = client_socket(ctx, ZMQ_DEALER, ep.command);
    CHECK(send_strings(dealer, 4, "", "PUBLISH", "kept", "on disk") == 0);
    CHECK(recv_frames(dealer, &f) == 3 && FRAME_IS(f, 1, "PUBLISHED"));
    strcpy(id, f.data[2]);
    zmq_close(dealer);
    rewind_server_free(server); /* closes the store it opened */
  }
  CHECK_OK(rewind_store_open_lmdb(path, 0, 0, true, &store));
  CHECK_OK(rewind_store_get(store, B(id), &evs));
  CHECK(rewind_events_count(evs) == 1);
  if (rewind_events_count(evs) == 1) {
    const rewind_event *e = rewind_events_at(evs, 0);
    CHECK(BYTES_EQ(e->data, e->data_len, "on disk"));
    CHECK(BYTES_EQ(e->stream, e->stream_len, "kept"));
  }
  rewind_events_free(evs);
  CHECK_OK(rewind_store_close(store));
  rewind_server_options_free(o);
  CHECK(remove_tree(dir) == 0);
  zmq_ctx_term(ctx);
}

/* Copies the first endpoint of a comma-separated list into `buf`. */
static void first_endpoint(const char *list, char *buf, size_t size) {
  size_t n = strcspn(list, ",");
  if (n >= size) n = size - 1;
  memcpy(buf, list, n);
  buf[n] = '\0';
}

/* The port of a "tcp://host:port" endpoint, or -1. */
static int tcp_port(const char *endpoint) {
  const char *colon = strrchr(endpoint, ':');
  if (strncmp(endpoint, "tcp://", 6) != 0 || colon == NULL || colon[1] == '\0') return -1;
  return atoi(colon + 1);
}

/* A server started on wildcard ports tells its caller which ports it got,
 * and clients reach it there. */
static void test_a_server_reports_the_endpoints_it_bound(void) {
  char dir[512];
  char ipc[600];
  char commands[700];
  char path[600];
  char first[128];
  struct stat st;
  rewind_store *store = NULL;
  rewind_server_options *o = NULL;
  rewind_server *server = NULL;
  rewind_server_state state = REWIND_SERVER_STATE_RUNNING;
  const char *query = NULL, *streaming = NULL, *command = NULL, *publish = NULL;
  const char *again = NULL;
  const char *const sentinel = "untouched";
  const char *out = sentinel;
  struct frames f;
  void *ctx = zmq_ctx_new();
  void *req, *dealer;

  CHECK(make_temp_dir(dir, sizeof dir) != NULL);
  snprintf(ipc, sizeof ipc, "ipc://%s/command", dir);
  snprintf(commands, sizeof commands, "tcp://127.0.0.1:*,%s", ipc);
  CHECK_OK(rewind_store_open_in_memory(&store));
  CHECK_OK(rewind_server_options_new(&o));
  CHECK_OK(rewind_server_options_set_query_endpoints(o, "tcp://127.0.0.1:*"));
  CHECK_OK(rewind_server_options_set_streaming_endpoints(o, ""));
  CHECK_OK(rewind_server_options_set_command_endpoints(o, commands));
  CHECK_OK(rewind_server_options_set_publish_endpoints(o, "tcp://127.0.0.1:*"));
  CHECK_OK(rewind_server_start(store, o, &server));
  if (server == NULL) goto out;

  CHECK_OK(rewind_server_endpoints(server, REWIND_ENDPOINT_QUERY, &query));
  CHECK_OK(rewind_server_endpoints(server, REWIND_ENDPOINT_STREAMING, &streaming));
  CHECK_OK(rewind_server_endpoints(server, REWIND_ENDPOINT_COMMAND, &command));
  CHECK_OK(rewind_server_endpoints(server, REWIND_ENDPOINT_PUBLISH, &publish));
  if (query == NULL || streaming == NULL || command == NULL || publish == NULL) {
    CHECK(0);
    goto stop;
  }
  /* Wildcard ports come back resolved; a disabled kind is "". */
  CHECK(strncmp(query, "tcp://127.0.0.1:", 16) == 0 && strchr(query, '*') == NULL);
  CHECK(tcp_port(query) > 0 && strchr(query, ',') == NULL);
  CHECK(strcmp(streaming, "") == 0);
  first_endpoint(command, first, sizeof first);
  CHECK(tcp_port(first) > 0 && tcp_port(first) != tcp_port(query));
  CHECK(strstr(command, ",ipc://") != NULL && strstr(command, "/command") != NULL);
  CHECK(tcp_port(publish) > 0 && tcp_port(publish) != tcp_port(query));
  /* The string belongs to the server and does not move. */
  CHECK_OK(rewind_server_endpoints(server, REWIND_ENDPOINT_QUERY, &again));
  CHECK(again == query);

  /* Clients connect where the server says. */
  req = client_socket(ctx, ZMQ_REQ, query);
  CHECK(req != NULL);
  CHECK(send_strings(req, 2, "PUBLISH", "found you") == 0);
  CHECK(recv_frames(req, &f) == 1 && FRAME_IS(f, 0, "PUBLISHED"));
  zmq_close(req);
  dealer = client_socket(ctx, ZMQ_DEALER, first);
  CHECK(dealer != NULL);
  CHECK(send_strings(dealer, 5, "", "QUERY", "default", "", "") == 0);
  CHECK(recv_frames(dealer, &f) == 4 && FRAME_IS(f, 1, "EVENT") && FRAME_IS(f, 3, "found you"));
  CHECK(recv_frames(dealer, &f) == 2 && FRAME_IS(f, 1, "END"));
  zmq_close(dealer);
  dealer = client_socket(ctx, ZMQ_DEALER, ipc);
  CHECK(dealer != NULL);
  CHECK(send_strings(dealer, 4, "", "PUBLISH", "s", "over ipc") == 0);
  CHECK(recv_frames(dealer, &f) == 3 && FRAME_IS(f, 1, "PUBLISHED"));
  zmq_close(dealer);

  /* Errors write nothing. */
  CHECK_OK(rewind_server_endpoints(server, REWIND_ENDPOINT_METRICS, &out));
  CHECK(out != NULL && strcmp(out, "") == 0); /* no metrics unless asked */
  CHECK_OK(rewind_server_endpoints(server, REWIND_ENDPOINT_NATIVE, &out));
  CHECK(out != NULL && strcmp(out, "") == 0); /* no native endpoint unless asked */
  out = sentinel;
  CHECK_STATUS(rewind_server_endpoints(server, 6, &out), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(rewind_last_error_message(), "endpoint kind 6") != NULL);
  CHECK_STATUS(rewind_server_endpoints(NULL, REWIND_ENDPOINT_QUERY, &out),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_endpoints(server, REWIND_ENDPOINT_QUERY, NULL),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK(out == sentinel);

stop:
  /* The endpoints outlive the server's stop, until it is freed. */
  CHECK_OK(rewind_server_stop(server));
  CHECK_OK(rewind_server_wait(server, -1, &state));
  CHECK(state == REWIND_SERVER_STATE_STOPPED);
  CHECK_OK(rewind_server_endpoints(server, REWIND_ENDPOINT_QUERY, &again));
  CHECK(again == query && query != NULL && tcp_port(query) > 0);
  rewind_server_free(server);
  server = NULL;

  /* The same from the LMDB variant, on a directory whose name is not UTF-8:
   * the path goes to the operating system byte for byte. */
  snprintf(path, sizeof path, "%s/data-\xe9\xff", dir);
  CHECK_OK(rewind_server_options_set_command_endpoints(o, "tcp://127.0.0.1:*"));
  CHECK_OK(rewind_server_start_lmdb(path, 0, o, &server));
  if (server != NULL) {
    CHECK_OK(rewind_server_endpoints(server, REWIND_ENDPOINT_COMMAND, &command));
    CHECK(tcp_port(command) > 0);
    dealer = client_socket(ctx, ZMQ_DEALER, command);
    CHECK(send_strings(dealer, 4, "", "PUBLISH", "s", "latin") == 0);
    CHECK(recv_frames(dealer, &f) == 3 && FRAME_IS(f, 1, "PUBLISHED"));
    zmq_close(dealer);
    rewind_server_free(server);
  }
  CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));

out:
  rewind_server_options_free(o);
  CHECK_OK(rewind_store_close(store));
  CHECK(remove_tree(dir) == 0);
  zmq_ctx_term(ctx);
}

static void test_start_errors(void) {
  char dir[512];
  char path[600];
  struct stat st;
  rewind_store *store = NULL;
  rewind_server_options *o = NULL;
  rewind_server *server = NULL;
  rewind_server *running;
  rewind_server_state state = REWIND_SERVER_STATE_RUNNING;
  struct endpoints ep;

  CHECK_OK(rewind_store_open_in_memory(&store));
  CHECK_OK(rewind_server_options_new(&o));

  /* NULL arguments. */
  CHECK_STATUS(rewind_server_options_new(NULL), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_start(NULL, o, &server), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_start(store, NULL, &server), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_start(store, o, NULL), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_start_lmdb(NULL, 0, o, &server), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_start_lmdb("/tmp/x", 0, NULL, &server),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_start_lmdb("/tmp/x", 0, o, NULL), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_stop(NULL), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_wait(NULL, 0, &state), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_options_set_query_endpoints(NULL, ""),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_options_set_query_endpoints(o, NULL),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_options_set_streaming_endpoints(o, NULL),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_options_set_command_endpoints(o, NULL),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_options_set_publish_endpoints(o, NULL),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_options_set_zmq_io_threads(NULL, 1), REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_options_set_exit_codeword(NULL, NULL, 0),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_options_set_max_message_size(NULL, 1),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_options_set_default_stream(NULL, B("s")),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_options_set_default_stream(o, NULL, 1),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_options_set_query_endpoints(o, "tcp://127.0.0.1:1\xff"),
               REWIND_STATUS_INVALID_ARGUMENT);
  CHECK(server == NULL);
  rewind_server_free(NULL);
  rewind_server_options_free(NULL);

  /* Options out of their domain fail the start. */
  CHECK_OK(rewind_server_options_set_query_endpoints(o, ""));
  CHECK_OK(rewind_server_options_set_command_endpoints(o, ""));
  CHECK_STATUS(rewind_server_start(store, o, &server), REWIND_STATUS_CONFIG);
  CHECK(strstr(rewind_last_error_message(), "query, command or native endpoint") != NULL);
  rewind_server_options_free(o);

  CHECK_OK(rewind_server_options_new(&o));
  CHECK_OK(rewind_server_options_set_zmq_io_threads(o, 0));
  CHECK_STATUS(rewind_server_start(store, o, &server), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_OK(rewind_server_options_set_zmq_io_threads(o, 2));
  CHECK_OK(rewind_server_options_set_max_message_size(o, 0));
  CHECK_STATUS(rewind_server_start(store, o, &server), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_OK(rewind_server_options_set_max_message_size(o, 1 << 20));
  CHECK_OK(rewind_server_options_set_exit_codeword(o, (const uint8_t *)"", 0));
  CHECK_STATUS(rewind_server_start(store, o, &server), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_OK(rewind_server_options_set_exit_codeword(o, NULL, 0));
  CHECK_OK(rewind_server_options_set_default_stream(o, (const uint8_t *)"", 0));
  CHECK_STATUS(rewind_server_start(store, o, &server), REWIND_STATUS_INVALID_ARGUMENT);
  /* ...and the LMDB variant checks them before it creates anything. */
  CHECK(make_temp_dir(dir, sizeof dir) != NULL);
  snprintf(path, sizeof path, "%s/never-created", dir);
  CHECK_STATUS(rewind_server_start_lmdb(path, 0, o, &server), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK(stat(path, &st) != 0);
  CHECK_OK(rewind_server_options_set_default_stream(o, B("default")));

  /* CURVE keys (ZeroMQ's test vector) are checked before anything is
   * created: a secret key needs an allow-list, every key must be Z85, the
   * public key must belong to the secret key. */
  CHECK_STATUS(rewind_server_options_set_curve_secret_key(NULL, ""),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_STATUS(rewind_server_options_set_curve_allowed_clients(o, NULL),
               REWIND_STATUS_NULL_PARAMETER);
  CHECK_OK(rewind_server_options_set_curve_secret_key(o, "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"));
  CHECK_STATUS(rewind_server_start_lmdb(path, 0, o, &server), REWIND_STATUS_CONFIG);
  CHECK(strstr(rewind_last_error_message(), "curve-allowed-clients") != NULL);
  CHECK(stat(path, &st) != 0);
  CHECK_OK(rewind_server_options_set_curve_allowed_clients(
      o, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7, bad"));
  CHECK_STATUS(rewind_server_start(store, o, &server), REWIND_STATUS_CONFIG);
  CHECK(strstr(rewind_last_error_message(), "'bad'") != NULL);
  CHECK_OK(rewind_server_options_set_curve_allowed_clients(
      o, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"));
  CHECK_OK(rewind_server_options_set_curve_public_key(o, "0000000000000000000000000000000000000000"));
  CHECK_STATUS(rewind_server_start(store, o, &server), REWIND_STATUS_CONFIG);
  CHECK(strstr(rewind_last_error_message(), "curve-public-key") != NULL);
  CHECK(server == NULL);
  CHECK_OK(rewind_server_options_set_curve_secret_key(o, ""));
  CHECK_OK(rewind_server_options_set_curve_public_key(o, ""));
  CHECK_STATUS(rewind_server_start(store, o, &server), REWIND_STATUS_CONFIG);
  CHECK(strstr(rewind_last_error_message(), "need curve-secret-key") != NULL);
  CHECK_OK(rewind_server_options_set_curve_allowed_clients(o, ""));

  /* An endpoint that cannot be bound. */
  CHECK_OK(rewind_server_options_set_query_endpoints(o, "nonsense://here"));
  CHECK_STATUS(rewind_server_start(store, o, &server), REWIND_STATUS_BIND);
  CHECK(strstr(rewind_last_error_message(), "nonsense://here") != NULL);
  CHECK(server == NULL);

  /* A port already bound by a running server. */
  running = start_server(store, NULL, o, &ep);
  CHECK(running != NULL);
  CHECK_STATUS(rewind_server_start(store, o, &server), REWIND_STATUS_BIND);
  CHECK(strstr(rewind_last_error_message(), ep.query) != NULL);
  CHECK(server == NULL);
  rewind_server_free(running);

  rewind_server_options_free(o);
  CHECK_OK(rewind_store_close(store));
  CHECK(remove_tree(dir) == 0);
}

/* GET /metrics from HOST:PORT; the reply (headers and body) into buf. */
static int http_get_metrics(const char *address, char *buf, size_t size) {
  char host[64];
  const char *colon = strrchr(address, ':');
  struct sockaddr_in sa;
  size_t len = 0;
  ssize_t n;
  int fd;
  const char *request = "GET /metrics HTTP/1.1\r\nHost: rewind\r\n\r\n";
  if (colon == NULL || (size_t)(colon - address) >= sizeof host) return -1;
  memcpy(host, address, (size_t)(colon - address));
  host[colon - address] = '\0';
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return -1;
  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
    close(fd);
    return -1;
  }
  while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0) len += (size_t)n;
  buf[len] = '\0';
  close(fd);
  return 0;
}

static void test_a_server_serves_metrics_when_asked(void) {
  rewind_store *store = NULL;
  rewind_server_options *o = NULL;
  rewind_server *server = NULL;
  const char *address = NULL;
  static char reply[65536];
  rewind_new_event event = {NULL, 0, (const uint8_t *)"counted", 7};

  CHECK_OK(rewind_store_open_in_memory(&store));
  CHECK_OK(rewind_server_options_new(&o));
  CHECK_OK(rewind_server_options_set_query_endpoints(o, "tcp://127.0.0.1:*"));
  CHECK_OK(rewind_server_options_set_streaming_endpoints(o, ""));
  CHECK_OK(rewind_server_options_set_command_endpoints(o, ""));
  CHECK_OK(rewind_server_options_set_publish_endpoints(o, ""));
  CHECK_STATUS(rewind_server_options_set_metrics_address(NULL, "x"), REWIND_STATUS_NULL_PARAMETER);
  CHECK_OK(rewind_server_options_set_metrics_address(o, "127.0.0.1:0"));
  CHECK_OK(rewind_server_start(store, o, &server));
  if (server == NULL) goto out;
  CHECK_OK(rewind_store_append(store, B("counted"), &event, 1, REWIND_EXPECTED_ANY, 0, NULL));
  CHECK_OK(rewind_server_endpoints(server, REWIND_ENDPOINT_METRICS, &address));
  CHECK(address != NULL && strncmp(address, "127.0.0.1:", 10) == 0 && strcmp(address, "127.0.0.1:0") != 0);
  if (address != NULL && http_get_metrics(address, reply, sizeof reply) == 0) {
    CHECK(strncmp(reply, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(strstr(reply, "\nrewind_appends_total 1\n") != NULL);
    CHECK(strstr(reply, "\nrewind_events 1\n") != NULL);
  } else {
    CHECK(0);
  }
  CHECK_OK(rewind_server_stop(server));
  rewind_server_free(server);
out:
  rewind_server_options_free(o);
  CHECK_OK(rewind_store_close(store));
}

int main(void) {
  RUN(test_both_protocols_share_the_store);
  RUN(test_exit_codeword_stops_the_server);
  RUN(test_wait_times_out_while_running);
  RUN(test_several_threads_wait_for_one_server);
  RUN(test_server_on_an_lmdb_directory);
  RUN(test_a_server_reports_the_endpoints_it_bound);
  RUN(test_a_server_serves_metrics_when_asked);
  RUN(test_start_errors);
  return FINISH();
}
