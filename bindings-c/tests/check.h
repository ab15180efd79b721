/* A minimal test harness for the C tests: CHECK and CHECK_STATUS count
 * passes and stop the test binary at the first failure. */
#ifndef SHMLANE_CHECK_H
#define SHMLANE_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmlane.h"

static unsigned long checks_passed;

#define CHECK(condition)                                                        \
    do {                                                                        \
        if (!(condition)) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,    \
                    #condition);                                                \
            exit(1);                                                            \
        }                                                                       \
        checks_passed++;                                                        \
    } while (0)

/* Checks that a call returns `expected`, printing both names and the
 * thread's last error message if not. */
#define CHECK_STATUS(call, expected)                                            \
    do {                                                                        \
        shmlane_status status_ = (call);                                        \
        if (status_ != (expected)) {                                            \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s): %s\n", \
                    __FILE__, __LINE__, #call, (int)status_,                    \
                    shmlane_strerror(status_), (int)(expected),                 \
                    shmlane_strerror(expected), shmlane_last_error_message());  \
            exit(1);                                                            \
        }                                                                       \
        checks_passed++;                                                        \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, SHMLANE_STATUS_OK)

/* A path for a scratch ring file, unique to this process and `tag`. */
static inline void scratch_path(char *out, size_t size, const char *tag) {
    const char *dir = getenv("TMPDIR");
    snprintf(out, size, "%s/shmlane-c-%s-%ld", dir ? dir : "/tmp", tag, (long)getpid());
    unlink(out);
}

static inline void report(const char *name) {
    printf("c-tests: %s: %lu checks passed\n", name, checks_passed);
}

#endif
