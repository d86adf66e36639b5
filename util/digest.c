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

EVP_MD_CTX *
sha256_begin(void)
{
	EVP_MD_CTX *sha = EVP_MD_CTX_new();

	if (sha == NULL || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
		fatal("SHA-256: cannot start a digest");
	return sha;
}

void
sha256_add(EVP_MD_CTX *sha, const void *data, size_t len)
{
	if (len > 0 && EVP_DigestUpdate(sha, data, len) != 1)
		fatal("SHA-256 computation failed");
}

void
sha256_add_u32(EVP_MD_CTX *sha, uint32_t v)
{
	unsigned char b[4] = {
		(unsigned char)(v >> 24), (unsigned char)(v >> 16),
		(unsigned char)(v >> 8), (unsigned char)v,
	};

	sha256_add(sha, b, sizeof(b));
}

void
sha256_add_field(EVP_MD_CTX *sha, const void *data, size_t len)
{
	if (len > UINT32_MAX)
		fatal("SHA-256: a field of %zu bytes", len);
	sha256_add_u32(sha, (uint32_t)len);
	sha256_add(sha, data, len);
}

void
sha256_end(EVP_MD_CTX **sha, unsigned char out[SHA256_LEN])
{
	unsigned int len = SHA256_LEN;

	if (EVP_DigestFinal_ex(*sha, out, &len) != 1)
		fatal("SHA-256 computation failed");
	EVP_MD_CTX_free(*sha);
	*sha = NULL;
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
