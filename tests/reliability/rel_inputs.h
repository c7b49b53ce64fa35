/*
 * rel_inputs: hostile function descriptions run through a backend.
 *
 * Names and environment values with newlines, quotes, shell syntax, unicode
 * and 4 KiB lengths, environment keys orchestrators reject, a zip bomb, a
 * zip-slip archive and a 20 MiB code zip. Each launch must succeed (and is
 * then terminated) or fail with a clean error leaving no object behind.
 * Prints one line per input with the outcome.
 */
#ifndef REL_INPUTS_H
#define REL_INPUTS_H

#include "rel_common.h"

/* Runs every input; returns how many were tried. Criterion-asserts the properties. */
size_t rel_inputs_run(const rel_target *t);

#endif
