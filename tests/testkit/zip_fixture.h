/*
 * zip_fixture: build zip archives in memory for tests (libarchive
 * zip writer; plain malloc, freed with zip_fixture_free).
 */
#ifndef ZIP_FIXTURE_H
#define ZIP_FIXTURE_H

#include <stddef.h>

typedef struct zip_fixture_entry {
    const char *name; /* stored as is (no sanitising: tests build hostile zips) */
    const char *data; /* file content, or symlink target when symlink != 0 */
    size_t size;      /* 0 = strlen(data) */
    int symlink;
    int directory;
    int device; /* a regular file whose central-directory mode says character device */
} zip_fixture_entry;

/* Zip of N entries (deflate); returns malloc'd bytes and *len, or NULL. */
void *zip_fixture_make(const zip_fixture_entry *entries, size_t n, size_t *len);
void zip_fixture_free(void *zip);

/*
 * Zip of one deflated entry NAME holding SIZE zero bytes, written in chunks
 * (a zip bomb: 1 GiB gives about 1 MiB); malloc'd bytes and *len, or NULL.
 */
void *zip_fixture_zeros(const char *name, size_t size, size_t *len);

#endif
