/* SHA-256 through OpenSSL's EVP interface. */
#include "config.h"

#include <openssl/evp.h>

#include "util/util.h"

void
sha256(const void *data, size_t len, unsigned char out[SHA256_LEN])
{
	unsigned int out_len = SHA256_LEN;

	if (EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL) != 1)
		fatal("SHA-256 computation failed");
}

void
hex_encode(const unsigned char *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 0x0f];
	}
	out[2 * len] = '\0';
}
