/* A small ZeroMQ client for the server tests (libzmq's C API).
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#ifndef REWIND_TEST_ZMQ_CLIENT_H
#define REWIND_TEST_ZMQ_CLIENT_H

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* Every receive gives up after this long, so a broken server fails a test
 * instead of hanging it (valgrind makes everything slower). */
#define CLIENT_TIMEOUT_MS 20000
#define MAX_FRAMES 32

struct frames {
  int count;
  size_t len[MAX_FRAMES];
  char data[MAX_FRAMES][512]; /* NUL-terminated copies, cut at 511 bytes */
};

static void *client_socket(void *ctx, int type, const char *endpoint) {
  void *s = zmq_socket(ctx, type);
  int timeout = CLIENT_TIMEOUT_MS;
  int linger = 0;
  if (s == NULL) return NULL;
  zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
  zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  if (type == ZMQ_SUB) zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
  if (zmq_connect(s, endpoint) != 0) {
    zmq_close(s);
    return NULL;
  }
  return s;
}

/* Sends `n` NUL-terminated strings as one multipart message. */
static int send_strings(void *socket, int n, ...) {
  va_list ap;
  int i, rc = 0;
  va_start(ap, n);
  for (i = 0; i < n; i++) {
    const char *s = va_arg(ap, const char *);
    if (zmq_send(socket, s, strlen(s), i + 1 < n ? ZMQ_SNDMORE : 0) < 0) rc = -1;
  }
  va_end(ap);
  return rc;
}

/* Receives one multipart message; returns its frame count, or -1 on a
 * timeout or error. */
static int recv_frames(void *socket, struct frames *out) {
  int more = 0;
  size_t more_len = sizeof more;
  out->count = 0;
  do {
    zmq_msg_t msg;
    size_t n;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, socket, 0) < 0) {
      zmq_msg_close(&msg);
      return -1;
    }
    if (out->count < MAX_FRAMES) {
      n = zmq_msg_size(&msg);
      out->len[out->count] = n;
      if (n > sizeof out->data[0] - 1) n = sizeof out->data[0] - 1;
      memcpy(out->data[out->count], zmq_msg_data(&msg), n);
      out->data[out->count][n] = '\0';
      out->count++;
    }
    zmq_msg_close(&msg);
    zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &more_len);
  } while (more);
  return out->count;
}

#endif
