/* A tiny test harness for the C tests of librewind.
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Each test is a function; RUN(test) runs it and prints "ok - name" or
 * "FAILED - name"; FINISH() prints "cases: N passed, M failed" and returns
 * the exit status. CHECK(cond) records a failure and goes on;
 * CHECK_STATUS(call, want) also prints the library's last error message. */
#ifndef REWIND_TEST_CHECK_H
#define REWIND_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

#include "rewind.h"

static int check_failed_in_test;
static int check_passed_cases;
static int check_failed_cases;

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,    \
              #cond);                                                     \
      check_failed_in_test = 1;                                           \
    }                                                                     \
  } while (0)

#define CHECK_STATUS(call, want)                                          \
  do {                                                                    \
    rewind_status check_got_ = (call);                                    \
    if (check_got_ != (rewind_status)(want)) {                            \
      fprintf(stderr, "%s:%d: %s returned %u (%s), wanted %u: %s\n",     \
              __FILE__, __LINE__, #call, (unsigned)check_got_,            \
              rewind_status_text(check_got_), (unsigned)(want),           \
              rewind_last_error_message());                               \
      check_failed_in_test = 1;                                           \
    }                                                                     \
  } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, REWIND_STATUS_OK)

/* Whether `len` bytes at `p` equal the NUL-terminated string `s`. */
#define BYTES_EQ(p, len, s) ((len) == strlen(s) && memcmp((p), (s), (len)) == 0)

/* A byte-string argument from a string literal or char array. */
#define B(s) ((const uint8_t *)(s)), strlen(s)

#define RUN(test)                                                         \
  do {                                                                    \
    check_failed_in_test = 0;                                             \
    test();                                                               \
    if (check_failed_in_test) {                                           \
      check_failed_cases++;                                               \
      printf("FAILED - %s\n", #test);                                     \
    } else {                                                              \
      check_passed_cases++;                                               \
      printf("ok - %s\n", #test);                                         \
    }                                                                     \
    fflush(stdout);                                                       \
  } while (0)

#define FINISH()                                                          \
  (printf("cases: %d passed, %d failed\n", check_passed_cases,           \
          check_failed_cases),                                            \
   check_failed_cases == 0 ? 0 : 1)

#endif
