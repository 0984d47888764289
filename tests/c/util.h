/* Temporary directories for the C tests.
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#ifndef REWIND_TEST_UTIL_H
#define REWIND_TEST_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes a new empty directory under $TMPDIR (or /tmp) and writes its path
 * to `buf`; returns buf, or NULL on failure. */
static char *make_temp_dir(char *buf, size_t size) {
  const char *base = getenv("TMPDIR");
  if (base == NULL || base[0] == '\0') base = "/tmp";
  if ((size_t)snprintf(buf, size, "%s/rewind-c-test-XXXXXX", base) >= size) return NULL;
  return mkdtemp(buf);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Removes a directory and everything in it. */
static int remove_tree(const char *path) {
  return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
