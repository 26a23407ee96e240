/* Keypairs: seeds, public keys, key files. No network needed. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

/* RFC 8032, test 1: the secret seed and the public key it gives. */
static const uint8_t RFC8032_SEED[DIPSEA_SEED_LEN] = {
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
    0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
    0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
static const uint8_t RFC8032_PUBLIC[DIPSEA_PUBLIC_KEY_LEN] = {
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe,
    0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6,
    0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a};

static void seed_gives_the_rfc8032_public_key(void) {
    dipsea_keypair *keypair = NULL;
    CHECK_OK(dipsea_keypair_from_seed(RFC8032_SEED, sizeof RFC8032_SEED, &keypair));
    uint8_t key[DIPSEA_PUBLIC_KEY_LEN];
    CHECK_OK(dipsea_keypair_public_key(keypair, key, sizeof key));
    CHECK(memcmp(key, RFC8032_PUBLIC, sizeof key) == 0);
    /* Too small a buffer, a short seed, NULLs: refused, nothing written. */
    uint8_t small[8] = {0};
    CHECK_STATUS(dipsea_keypair_public_key(keypair, small, sizeof small),
                 DIPSEA_BUFFER_TOO_SMALL);
    CHECK(small[0] == 0);
    dipsea_keypair *other = NULL;
    CHECK_STATUS(dipsea_keypair_from_seed(RFC8032_SEED, 31, &other), DIPSEA_BAD_INPUT);
    CHECK(other == NULL);
    CHECK_STATUS(dipsea_keypair_from_seed(NULL, 32, &other), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_keypair_public_key(NULL, key, sizeof key), DIPSEA_NULL_ARGUMENT);
    CHECK_OK(dipsea_keypair_free(keypair));
    CHECK_OK(dipsea_keypair_free(NULL));
}

static void random_keypairs_differ(void) {
    dipsea_keypair *a = NULL, *b = NULL;
    CHECK_OK(dipsea_keypair_random(&a));
    CHECK_OK(dipsea_keypair_random(&b));
    uint8_t ka[DIPSEA_PUBLIC_KEY_LEN], kb[DIPSEA_PUBLIC_KEY_LEN];
    CHECK_OK(dipsea_keypair_public_key(a, ka, sizeof ka));
    CHECK_OK(dipsea_keypair_public_key(b, kb, sizeof kb));
    CHECK(memcmp(ka, kb, sizeof ka) != 0);
    dipsea_keypair_free(a);
    dipsea_keypair_free(b);
}

static void key_files_round_trip_and_are_not_overwritten(void) {
    char dir[] = "/tmp/dipsea-c-keypair-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[sizeof dir + 8];
    snprintf(path, sizeof path, "%s/key", dir);
    dipsea_keypair *keypair = NULL, *loaded = NULL, *other = NULL;
    CHECK_OK(dipsea_keypair_random(&keypair));
    CHECK_OK(dipsea_keypair_save(keypair, path));
    CHECK_OK(dipsea_keypair_load(path, &loaded));
    uint8_t k1[DIPSEA_PUBLIC_KEY_LEN], k2[DIPSEA_PUBLIC_KEY_LEN];
    CHECK_OK(dipsea_keypair_public_key(keypair, k1, sizeof k1));
    CHECK_OK(dipsea_keypair_public_key(loaded, k2, sizeof k2));
    CHECK(memcmp(k1, k2, sizeof k1) == 0);
    /* An existing file is never replaced. */
    CHECK_OK(dipsea_keypair_random(&other));
    CHECK_STATUS(dipsea_keypair_save(other, path), DIPSEA_IO);
    unlink(path);
    /* A file that holds no key. */
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs("not a key\n", f);
        fclose(f);
    }
    dipsea_keypair *garbled = NULL;
    CHECK_STATUS(dipsea_keypair_load(path, &garbled), DIPSEA_BAD_INPUT);
    CHECK(garbled == NULL);
    unlink(path);
    CHECK_STATUS(dipsea_keypair_load(path, &garbled), DIPSEA_IO);
    rmdir(dir);
    dipsea_keypair_free(keypair);
    dipsea_keypair_free(loaded);
    dipsea_keypair_free(other);
}

void keypair_tests(void) {
    run_test("keypair: seed gives the RFC 8032 public key", seed_gives_the_rfc8032_public_key);
    run_test("keypair: random keypairs differ", random_keypairs_differ);
    run_test("keypair: key files round-trip and are not overwritten",
             key_files_round_trip_and_are_not_overwritten);
}
