/* server.c - `tickpipe monitor`: libmicrohttpd serving /metrics and /health, and the alert loop (see server.h) */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "monitor/alerts.h"
#include "monitor/health.h"
#include "monitor/metrics.h"
#include "monitor/server.h"
#include "monitor/tsc.h"
#include "monitor/view.h"

#define RENDER_FIRST   (256u << 10)   /* first size of the scrape buffer */
#define RENDER_MAX     (64u << 20)    /* a scrape never needs more; beyond: 500 */
#define STALL_DEFAULT_MS 2000u        /* supervisor.heartbeat_timeout_ms's default */
#define GATE_PENDING   32             /* accepted connections waiting for their first bytes */

struct gate_conn {
	int fd;
	uint64_t deadline_ns;
	struct sockaddr_storage addr;
	socklen_t addr_len;
};

struct mon_server {
	struct mon_view view;
	bool view_open;
	struct mon_alerts *alerts;
	struct MHD_Daemon *httpd;
	uint32_t stall_ms, interval_ms;
	uint16_t port;
	char listen[CONFIG_LISTEN_MAX];

	/* The gate (below): its thread owns the listening socket and pend[]. */
	int listen_fd, wake_fd;
	bool gate_up;
	pthread_t gate;
	int n_pend;
	struct gate_conn pend[GATE_PENDING];

	/* The scrape buffer: rendered into under render_lock (MHD's thread
	 * today; the lock keeps it right with more threads), then copied into
	 * the response MHD owns. */
	pthread_mutex_t render_lock;
	char *buf;
	size_t cap;
};

/* ---- HTTP ---- */

static const char TEXT_PLAIN[] = "text/plain; charset=utf-8";
static const char METRICS_TYPE[] = "text/plain; version=0.0.4; charset=utf-8";

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, const char *type, struct MHD_Response *r)
{
	if (!r)
		return MHD_NO;   /* out of memory: MHD closes the connection */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	return queue(c, status, TEXT_PLAIN,
		     MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT));
}

/* The request announces a body: a Content-Length other than 0, or any Transfer-Encoding. */
static bool has_body(const char *transfer_encoding, const char *content_length)
{
	if (transfer_encoding)
		return true;
	if (!content_length)
		return false;
	while (*content_length == ' ' || *content_length == '\t' || *content_length == '0')
		content_length++;
	return *content_length != '\0';
}

enum mon_route mon_http_route(const char *method, const char *url, const char *transfer_encoding,
			      const char *content_length)
{
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return MON_ROUTE_BAD_METHOD;
	if (has_body(transfer_encoding, content_length))
		return MON_ROUTE_BODY;
	if (strcmp(url, "/metrics") == 0)
		return MON_ROUTE_METRICS;
	if (strcmp(url, "/health") == 0)
		return MON_ROUTE_HEALTH;
	return MON_ROUTE_NOT_FOUND;
}

static struct MHD_Response *metrics_response(struct mon_server *s)
{
	struct MHD_Response *r = NULL;
	pthread_mutex_lock(&s->render_lock);
	size_t n = mon_metrics_render(&s->view, s->alerts, s->buf, s->cap);
	if (n >= s->cap && n < RENDER_MAX) {
		/* Outgrown (more symbols with positions, say): once, with room to spare. */
		size_t want = n + n / 2 + 4096;
		char *nb = malloc(want);
		if (nb) {
			free(s->buf);
			s->buf = nb;
			s->cap = want;
			n = mon_metrics_render(&s->view, s->alerts, s->buf, s->cap);
		}
	}
	if (n < s->cap)
		r = MHD_create_response_from_buffer(n, s->buf, MHD_RESPMEM_MUST_COPY);
	pthread_mutex_unlock(&s->render_lock);
	return r;
}

/* MHD calls this once the request line and headers are in (*req_cls NULL),
 * then once per chunk of body. Every request is answered on the first call,
 * so a body is never read: MHD closes such a connection after the reply. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	static int answered;
	struct mon_server *s = cls;
	(void)version, (void)upload_data;
	if (*req_cls) {
		*upload_data_size = 0;   /* a body after the reply: dropped */
		return MHD_YES;
	}
	*req_cls = &answered;

	switch (mon_http_route(method, url,
			       MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING),
			       MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH))) {
	case MON_ROUTE_BAD_METHOD: {
		struct MHD_Response *r = MHD_create_response_from_buffer(
			sizeof("method not allowed: GET or HEAD\n") - 1, (void *)"method not allowed: GET or HEAD\n",
			MHD_RESPMEM_PERSISTENT);
		if (r)
			MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		return queue(c, MHD_HTTP_METHOD_NOT_ALLOWED, TEXT_PLAIN, r);
	}
	case MON_ROUTE_BODY:
		return queue_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "a GET or HEAD takes no request body\n");
	case MON_ROUTE_METRICS: {
		struct MHD_Response *r = metrics_response(s);
		if (!r)
			return queue_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "the scrape could not be rendered\n");
		return queue(c, MHD_HTTP_OK, METRICS_TYPE, r);
	}
	case MON_ROUTE_HEALTH: {
		char *doc = NULL;
		int st = mon_health_render(&s->view, s->stall_ms, &doc);
		if (st < 0 || !doc) {
			free(doc);
			return queue_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "the health document could not be rendered\n");
		}
		return queue(c, (unsigned)st, "application/json",
			     MHD_create_response_from_buffer(strlen(doc), doc, MHD_RESPMEM_MUST_FREE));
	}
	case MON_ROUTE_NOT_FOUND:
		break;
	}
	return queue_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /health\n");
}

/* Binds and listens on `addr` ("host:port", "[v6]:port"). Returns the
 * socket, or a negative errno with err set. */
static int bind_listen(const char *addr, bool *v6, uint16_t *port_out, char *err, size_t errlen)
{
	char host[CONFIG_LISTEN_MAX], service[8];
	uint16_t port;
	if (config_parse_listen(addr, host, sizeof(host), &port)) {
		snprintf(err, errlen, "listen address \"%s\": expected \"host:port\" with a port 1..65535 "
			 "(IPv6 as \"[::1]:9464\")", addr);
		return -EINVAL;
	}
	snprintf(service, sizeof(service), "%u", port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int g = getaddrinfo(host, service, &hints, &res);
	if (g) {
		snprintf(err, errlen, "listen address \"%s\": cannot resolve \"%s\": %s", addr, host, gai_strerror(g));
		return -EINVAL;
	}
	int rc, one = 1;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "listen address \"%s\": socket: %s", addr, strerror(-rc));
		goto out;
	}
	*v6 = res->ai_family == AF_INET6;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (*v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 64) != 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(-rc));
		close(fd);
		goto out;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	*port_out = port;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							   : ((struct sockaddr_in *)&ss)->sin_port);
	rc = fd;
out:
	freeaddrinfo(res);
	return rc;
}

/* ---- the gate: accepts, answers what is not HTTP, hands the rest to MHD ----
 *
 * libmicrohttpd 0.9.75 reads a first line that starts with a NUL byte as a
 * blank line (and then waits for the connection timeout), and closes a
 * request line without a space without a word. A client that sent garbage
 * should be told, so a thread of ours accepts each connection and peeks at
 * its first bytes (nothing is consumed): after optional blank lines, a
 * request line starts with a token (the method) and a space. Anything else
 * is answered 400 and closed; a connection silent for MON_GATE_WAIT_MS gets
 * 408. Every other connection is MHD's (MHD_add_connection), which judges
 * the rest of the request itself.
 */

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

int mon_gate_classify(const unsigned char *b, size_t n)
{
	size_t i = 0, start;
	while (i < n && (b[i] == '\r' || b[i] == '\n'))
		i++;
	start = i;
	while (i < n && is_tchar(b[i]))
		i++;
	if (i == n)
		return 1;   /* blank lines or a method so far: MHD reads the rest */
	return i > start && b[i] == ' ' ? 1 : -1;
}

/* Answers `status` and closes, reading what the client sent first so the
 * close does not reset the connection before the answer is read. */
static void gate_refuse(int fd, const char *status, const char *text)
{
	char msg[256], junk[4096];
	int n = snprintf(msg, sizeof(msg), "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s", status, TEXT_PLAIN, strlen(text), text);
	for (int i = 0; i < 16 && recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
		;
	if (send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		(void)0;   /* the peer is gone: nothing to tell */
	shutdown(fd, SHUT_WR);
	close(fd);
}

static void gate_drop(struct mon_server *s, int i)
{
	s->pend[i] = s->pend[--s->n_pend];
}

/* Pending connection i has bytes (or closed): hand it over or refuse it. */
static void gate_judge(struct mon_server *s, int i)
{
	unsigned char b[64];
	struct gate_conn *g = &s->pend[i];
	ssize_t n = recv(g->fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		close(g->fd);
	else if (mon_gate_classify(b, (size_t)n) > 0)
		MHD_add_connection(s->httpd, g->fd, (const struct sockaddr *)&g->addr, g->addr_len); /* MHD owns it now */
	else
		gate_refuse(g->fd, "400 Bad Request", "bad request: not an HTTP/1.x request line\n");
	gate_drop(s, i);
}

static void *gate_main(void *arg)
{
	struct mon_server *s = arg;
	struct pollfd pf[2 + GATE_PENDING];
	for (;;) {
		uint64_t now = tsc_mono_ns();
		int timeout_ms = -1;
		for (int i = s->n_pend - 1; i >= 0; i--) {
			if (s->pend[i].deadline_ns <= now) {
				gate_refuse(s->pend[i].fd, "408 Request Timeout", "request timeout\n");
				gate_drop(s, i);
				continue;
			}
			int ms = (int)((s->pend[i].deadline_ns - now) / 1000000) + 1;
			if (timeout_ms < 0 || ms < timeout_ms)
				timeout_ms = ms;
		}
		pf[0] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
		for (int i = 0; i < s->n_pend; i++)
			pf[2 + i] = (struct pollfd){ .fd = s->pend[i].fd, .events = POLLIN };
		int n_pf = 2 + s->n_pend;
		if (poll(pf, (nfds_t)n_pf, timeout_ms) < 0)
			continue;   /* EINTR; nothing else is expected */
		if (pf[0].revents)
			break;
		/* Backwards: gate_drop() moves the last entry, already looked at, into i. */
		for (int i = n_pf - 3; i >= 0; i--)
			if (pf[2 + i].revents)
				gate_judge(s, i);
		while (pf[1].revents & POLLIN) {
			if (s->n_pend == GATE_PENDING) {
				/* Full of silent connections: the oldest makes room, so idle
				 * sockets cannot lock a scraper out for MON_GATE_WAIT_MS. */
				int old = 0;
				for (int i = 1; i < s->n_pend; i++)
					if (s->pend[i].deadline_ns < s->pend[old].deadline_ns)
						old = i;
				gate_refuse(s->pend[old].fd, "408 Request Timeout", "request timeout\n");
				gate_drop(s, old);
			}
			struct gate_conn *g = &s->pend[s->n_pend];
			g->addr_len = sizeof(g->addr);
			g->fd = accept4(s->listen_fd, (struct sockaddr *)&g->addr, &g->addr_len,
					SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (g->fd < 0)
				break;   /* EAGAIN, or the client left already */
			g->deadline_ns = tsc_mono_ns() + MON_GATE_WAIT_MS * 1000000ULL;
			s->n_pend++;
		}
	}
	for (int i = 0; i < s->n_pend; i++)
		close(s->pend[i].fd);
	s->n_pend = 0;
	return NULL;
}

/* ---- start, sample, stop ---- */

/* A cpu that runs a stage process is refused: the monitor would steal its cycles. */
static int check_cpu(const struct tp_config *cfg, int cpu, char *err, size_t errlen)
{
	for (uint32_t p = 0; cfg && cpu >= 0 && p < cfg->n_processes; p++) {
		const struct config_process *cp = &cfg->processes[p];
		if (cp->cpu != cpu)
			continue;
		char stages[256];
		size_t n = 0;
		stages[0] = '\0';
		for (uint32_t i = 0; i < cp->n_stages && n < sizeof(stages); i++)
			n += (size_t)snprintf(stages + n, sizeof(stages) - n, "%s%s", i ? ", " : "", cp->stages[i]);
		snprintf(err, errlen, "monitor cpu %d: process \"%s\" (%s) is pinned to it; give the monitor a "
			 "housekeeping cpu of its own (monitor.cpu or --cpu), or -1", cpu, cp->name, stages);
		return -EINVAL;
	}
	return 0;
}

int mon_server_start(struct mon_server **out, const struct mon_server_opts *o, char *err, size_t errlen)
{
	const struct tp_config *cfg = o->cfg;
	const char *listen_at = o->listen ? o->listen : MON_LISTEN_DEFAULT;
	bool v6 = false;
	int fd = -1, rc;
	*out = NULL;

	if ((rc = check_cpu(cfg, o->cpu, err, errlen)))
		return rc;
	struct mon_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->listen_fd = s->wake_fd = -1;
	if (pthread_mutex_init(&s->render_lock, NULL) != 0) {
		free(s);
		snprintf(err, errlen, "cannot create a mutex");
		return -ENOMEM;
	}
	s->interval_ms = o->interval_ms ? o->interval_ms : 1000;
	s->stall_ms = cfg ? cfg->supervisor.heartbeat_timeout_ms : STALL_DEFAULT_MS;
	snprintf(s->listen, sizeof(s->listen), "%s", listen_at);

	if ((rc = mon_view_open(&s->view, o->segment, err, errlen)))
		goto fail;
	s->view_open = true;
	if (cfg && s->view.seg.hdr->pipeline_id != cfg->pipeline.id) {
		snprintf(err, errlen, "segment %s belongs to pipeline id %" PRIu64 ", but the config's pipeline %s has "
			 "id %u (wrong --config?)", o->segment, s->view.seg.hdr->pipeline_id, cfg->pipeline.name,
			 cfg->pipeline.id);
		rc = -EINVAL;
		goto fail;
	}
	/* Pinned before any thread starts: MHD's and the webhook worker inherit it. */
	if (o->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(o->cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0) {
			rc = -errno;
			snprintf(err, errlen, "cannot pin the monitor to cpu %d: %s", o->cpu, strerror(-rc));
			goto fail;
		}
	}
	if (!(s->alerts = mon_alerts_new(cfg, &s->view, err, errlen))) {
		rc = -EINVAL;
		goto fail;
	}
	/* The scrape buffer, sized from a first render so requests never allocate it. */
	s->cap = RENDER_FIRST;
	if (!(s->buf = malloc(s->cap))) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	size_t need = mon_metrics_render(&s->view, s->alerts, s->buf, s->cap);
	if (need >= s->cap / 2 && need < RENDER_MAX) {
		free(s->buf);
		s->cap = need * 2;
		if (!(s->buf = malloc(s->cap))) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
			goto fail;
		}
	}

	if ((fd = bind_listen(listen_at, &v6, &s->port, err, errlen)) < 0) {
		rc = fd;
		goto fail;
	}
	s->listen_fd = fd;
	/* No listening socket of its own: the gate hands it connections (ITC wakes its thread). */
	s->httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
					    MHD_USE_NO_LISTEN_SOCKET | (v6 ? MHD_USE_IPv6 : 0),
				    0, NULL, NULL, on_request, s,
				    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MON_HTTP_MEMORY,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MON_HTTP_CONN_MAX,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)MON_HTTP_TIMEOUT_S,
				    MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
				    MHD_OPTION_END);
	if (!s->httpd) {
		snprintf(err, errlen, "cannot start the HTTP server on %s (libmicrohttpd refused)", listen_at);
		rc = -EIO;
		goto fail;
	}
	if ((s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = pthread_create(&s->gate, NULL, gate_main, s))) {
		snprintf(err, errlen, "cannot start the accepting thread: %s", strerror(rc));
		rc = -rc;
		goto fail;
	}
	s->gate_up = true;
	*out = s;
	return 0;
fail:
	mon_server_stop(s);
	return rc;
}

int mon_server_sample(struct mon_server *s)
{
	return mon_alerts_eval(s->alerts, &s->view, tsc_unix_ns());
}

uint16_t mon_server_port(const struct mon_server *s)
{
	return s->port;
}

void mon_server_stop(struct mon_server *s)
{
	if (!s)
		return;
	if (s->gate_up) {
		uint64_t one = 1;
		if (write(s->wake_fd, &one, sizeof(one)) != sizeof(one))
			(void)0;   /* cannot fail on a fresh eventfd */
		pthread_join(s->gate, NULL);
	}
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->httpd)
		MHD_stop_daemon(s->httpd);   /* joins its thread, closes every connection */
	mon_alerts_free(s->alerts);
	if (s->view_open)
		mon_view_close(&s->view);
	pthread_mutex_destroy(&s->render_lock);
	free(s->buf);
	free(s);
}

int mon_server_run(const struct mon_server_opts *o)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe, old_int;
	sigset_t stop, old_mask;
	char err[1024];
	struct mon_server *s;

	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	if (!o->ignore_sigint)
		sigaddset(&stop, SIGINT);
	/* A peer that hangs up mid-reply must not kill the monitor. */
	sigaction(SIGPIPE, &ign, &old_pipe);
	if (o->ignore_sigint)
		sigaction(SIGINT, &ign, &old_int);
	pthread_sigmask(SIG_BLOCK, &stop, &old_mask);

	int rc = mon_server_start(&s, o, err, sizeof(err));
	if (rc || !s) {
		fprintf(stderr, "tickpipe monitor: %s\n", err);
	} else {
		if (!o->quiet)
			fprintf(stderr, "tickpipe monitor: segment %s: serving http://%s/metrics and /health; "
				"%u alert rule%s, evaluated every %u ms\n", o->segment, s->listen,
				o->cfg ? o->cfg->monitor.n_alerts : 0,
				o->cfg && o->cfg->monitor.n_alerts == 1 ? "" : "s", s->interval_ms);
		for (;;) {
			mon_server_sample(s);
			struct timespec ts = { s->interval_ms / 1000, (long)(s->interval_ms % 1000) * 1000000L };
			int sig = sigtimedwait(&stop, NULL, &ts);
			if (sig == SIGTERM || sig == SIGINT)
				break;
		}
		mon_server_stop(s);
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	if (o->ignore_sigint)
		sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	return rc;
}
