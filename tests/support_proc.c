/* support_proc.c - helpers for the long-running suites: environment knobs, time, a plain HTTP GET */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/support.h"

uint64_t tsup_env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	return v && *v ? strtoull(v, NULL, 10) : def;
}

double tsup_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tsup_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

long tsup_http_get(int port, const char *path, char *buf, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || cap == 0)
		return -1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	char req[256];
	int rn = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	size_t n = 0;
	long rc = -1;
	if (rn > 0 && (size_t)rn < sizeof(req) && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    write(fd, req, (size_t)rn) == rn) {
		ssize_t k;
		while (n < cap - 1 && (k = read(fd, buf + n, cap - 1 - n)) > 0)
			n += (size_t)k;
		buf[n] = '\0';
		rc = (long)n;
	}
	close(fd);
	return rc;
}
