// The check macro of the standalone C++ self-tests (one test binary per including file):
// CHECK(cond, printf-format, ...) counts the check and, when cond is false, prints the location
// and the message and counts a failure. main() returns g_failures != 0.
#pragma once

#include <cstdio>

static int g_failures = 0;
static int g_checks = 0;

#define CHECK(cond, ...)                                            \
    do {                                                            \
        g_checks++;                                                 \
        if (!(cond)) {                                              \
            g_failures++;                                           \
            std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            std::printf(__VA_ARGS__);                               \
            std::printf("\n");                                      \
        }                                                           \
    } while (0)
