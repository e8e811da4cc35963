/* cmd_mold_send.c - `tickpipe mold-send`: send an ITCH capture as MoldUDP64 packets (tests, demos) */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "feed/capture.h"
#include "feed/mold.h"
#include "tools/cli.h"

#define SEND_PER_PACKET_DEF 32u
#define SEND_EOS_COPIES     3

static void send_usage(FILE *f)
{
	fprintf(f, "usage: tickpipe mold-send CAPTURE --group ADDR:PORT [--rate N] [--session NAME]\n"
		   "                           [--per-packet K] [--drop-every N] [--interface ADDR]\n"
		   "                           [--ttl N] [--quiet]\n\n"
		   "Sends an ITCH 5.0 capture (format itch50) as MoldUDP64 downstream packets: a 20-byte\n"
		   "header (10-byte session, 8-byte big-endian sequence number of the packet's first\n"
		   "message, 2-byte message count), then each message with a 2-byte big-endian length.\n"
		   "Sequence numbers start at 1. At the end an end-of-session packet (count 0xFFFF,\n"
		   "sequence = the next message) is sent %d times, 1 ms apart: a `mold` source stage\n"
		   "stops there and its pipeline drains. For tests and demos; plain sockets.\n\n"
		   "  --group ADDR:PORT   destination: a multicast group (239.x.x.x) or a unicast address\n"
		   "  --rate N            messages per second at most (default: as fast as possible)\n"
		   "  --session NAME      MoldUDP64 session, 1..10 characters (default TICKPIPE)\n"
		   "  --per-packet K      messages per packet at most, 1..%u (default %u); a packet also\n"
		   "                      stops before %u bytes\n"
		   "  --drop-every N      test aid: do not send every Nth data packet (N, 2N, ...), so the\n"
		   "                      receiver sees deterministic gaps; sequence numbers advance anyway\n"
		   "  --interface ADDR    IPv4 address of the interface to send multicast from\n"
		   "                      (IP_MULTICAST_IF; 127.0.0.1 for loopback)\n"
		   "  --ttl N             multicast TTL 0..255 (default 0: this host only; loopback delivery\n"
		   "                      is always on)\n"
		   "  --quiet             no summary line\n\n"
		   "Exit status: 0 when every packet was sent; 1 for a send or read error; 2 for bad\n"
		   "arguments or a capture that is not itch50.\n",
		   SEND_EOS_COPIES, MOLD_COUNT_MAX, SEND_PER_PACKET_DEF, MOLD_PACKET_MAX);
}

struct sender {
	int fd;
	struct sockaddr_in to;
	uint8_t pkt[65536];
	uint32_t len;                  /* bytes in pkt */
	uint32_t n;                    /* messages in pkt */
	uint64_t first_seq;            /* of the packet being built */
	uint64_t packets, dropped_packets, dropped_msgs, sent_msgs;
	uint64_t drop_every;
	char session[MOLD_SESSION_LEN + 1];
};

static int send_packet(struct sender *s, const uint8_t *p, uint32_t len)
{
	struct iovec iov = { .iov_base = (void *)(uintptr_t)p, .iov_len = len };
	struct msghdr mh = { .msg_name = &s->to, .msg_namelen = sizeof(s->to), .msg_iov = &iov, .msg_iovlen = 1 };
	for (int tries = 0;; tries++) {
		ssize_t r = sendmsg(s->fd, &mh, 0);
		if (r == (ssize_t)len)
			return 0;
		if (r < 0 && (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) && tries < 1000) {
			struct timespec ts = { 0, 100000 };   /* the queue is full: let it drain */
			nanosleep(&ts, NULL);
			continue;
		}
		return r < 0 ? -errno : -EIO;
	}
}

/* Sends (or, with --drop-every, skips) the packet being built. */
static int flush_packet(struct sender *s)
{
	if (!s->n)
		return 0;
	mold_hdr_write(s->pkt, s->session, s->first_seq, (uint16_t)s->n);
	s->packets++;
	int rc = 0;
	if (s->drop_every && s->packets % s->drop_every == 0) {
		s->dropped_packets++;
		s->dropped_msgs += s->n;
	} else {
		rc = send_packet(s, s->pkt, s->len);
		s->sent_msgs += s->n;
	}
	s->first_seq += s->n;
	s->n = 0;
	s->len = MOLD_HDR_BYTES;
	return rc;
}

static void sleep_until(uint64_t mono_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(mono_ns / 1000000000u), .tv_nsec = (long)(mono_ns % 1000000000u) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int cmd_mold_send(int argc, char **argv)
{
	const char *cap = NULL, *group = NULL, *iface = NULL, *session = "TICKPIPE";
	uint64_t rate = 0, per = SEND_PER_PACKET_DEF, drop = 0, ttl = 0;
	bool quiet = false;
	static struct sender s;

	if (cli_wants_help(argc, argv)) {
		send_usage(stdout);
		return EXIT_OK;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--quiet")) {
			quiet = true;
			continue;
		}
		if (!strcmp(a, "--group") || !strcmp(a, "--rate") || !strcmp(a, "--session") ||
		    !strcmp(a, "--per-packet") || !strcmp(a, "--drop-every") || !strcmp(a, "--interface") ||
		    !strcmp(a, "--ttl")) {
			if (i + 1 >= argc)
				return cli_usage_error("mold-send", "%s: expected a value", a);
			const char *v = argv[++i];
			if (!strcmp(a, "--group"))
				group = v;
			else if (!strcmp(a, "--session"))
				session = v;
			else if (!strcmp(a, "--interface"))
				iface = v;
			else if (!strcmp(a, "--rate") && cli_parse_u64(v, 1, 1000000000, &rate))
				return cli_usage_error("mold-send", "--rate: expected messages per second 1..10^9, got \"%s\"", v);
			else if (!strcmp(a, "--per-packet") && cli_parse_u64(v, 1, MOLD_COUNT_MAX, &per))
				return cli_usage_error("mold-send", "--per-packet: expected 1..%u, got \"%s\"", MOLD_COUNT_MAX, v);
			else if (!strcmp(a, "--drop-every") && cli_parse_u64(v, 1, UINT32_MAX, &drop))
				return cli_usage_error("mold-send", "--drop-every: expected a packet count >= 1, got \"%s\"", v);
			else if (!strcmp(a, "--ttl") && cli_parse_u64(v, 0, 255, &ttl))
				return cli_usage_error("mold-send", "--ttl: expected 0..255, got \"%s\"", v);
		} else if (a[0] == '-' && a[1]) {
			return cli_usage_error("mold-send", "unknown option \"%s\"", a);
		} else if (!cap) {
			cap = a;
		} else {
			return cli_usage_error("mold-send", "unexpected argument \"%s\"", a);
		}
	}
	if (!cap || !group) {
		send_usage(stderr);
		return EXIT_USAGE;
	}
	char host[CONFIG_LISTEN_MAX], padded[MOLD_SESSION_LEN];
	uint16_t port;
	struct in_addr ga, ia;
	if (config_parse_listen(group, host, sizeof(host), &port) || inet_pton(AF_INET, host, &ga) != 1)
		return cli_usage_error("mold-send", "--group: expected an IPv4 address and a port like 239.1.2.3:26477, got \"%s\"", group);
	if (iface && inet_pton(AF_INET, iface, &ia) != 1)
		return cli_usage_error("mold-send", "--interface: expected an IPv4 address, got \"%s\"", iface);
	if (mold_session_pad(session, padded))
		return cli_usage_error("mold-send", "--session: expected 1..10 visible characters, got \"%s\"", session);
	snprintf(s.session, sizeof(s.session), "%s", session);
	s.drop_every = drop;

	struct cap_reader r;
	char err[512];
	if (cap_open(&r, cap, err, sizeof(err))) {
		fprintf(stderr, "tickpipe mold-send: %s\n", err);
		return EXIT_FAIL;
	}
	if (r.hdr->format != FEED_ITCH50) {
		fprintf(stderr, "tickpipe mold-send: %s: format %s: MoldUDP64 here carries ITCH 5.0 (itch50) captures\n",
			cap, feed_format_name(r.hdr->format));
		cap_close(&r);
		return EXIT_USAGE;
	}
	s.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s.fd < 0) {
		fprintf(stderr, "tickpipe mold-send: socket: %s\n", strerror(errno));
		cap_close(&r);
		return EXIT_FAIL;
	}
	int sndbuf = 4 << 20;
	setsockopt(s.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));   /* a hint: capped by wmem_max */
	if (IN_MULTICAST(ntohl(ga.s_addr))) {
		unsigned char t = (unsigned char)ttl, loop = 1;
		if (setsockopt(s.fd, IPPROTO_IP, IP_MULTICAST_TTL, &t, sizeof(t)) ||
		    setsockopt(s.fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) ||
		    (iface && setsockopt(s.fd, IPPROTO_IP, IP_MULTICAST_IF, &ia, sizeof(ia)))) {
			fprintf(stderr, "tickpipe mold-send: multicast options for %s: %s\n", group, strerror(errno));
			close(s.fd);
			cap_close(&r);
			return EXIT_FAIL;
		}
	}
	s.to.sin_family = AF_INET;
	s.to.sin_port = htons(port);
	s.to.sin_addr = ga;
	s.len = MOLD_HDR_BYTES;
	s.first_seq = 1;

	struct cap_view v;
	uint64_t start = mono_ns(), msgs = 0;
	int rc = 0, nrc;
	while (rc == 0 && (nrc = cap_next(&r, &v, err, sizeof(err))) == 1) {
		if (v.len > 65535 - MOLD_HDR_BYTES - 2) {
			fprintf(stderr, "tickpipe mold-send: %s: record at byte offset %" PRIu64 " has %u bytes: too long "
				"for a MoldUDP64 message\n", cap, v.offset, v.len);
			rc = -EMSGSIZE;
			break;
		}
		if (s.n && (s.n >= per || s.len + 2 + v.len > MOLD_PACKET_MAX))
			rc = flush_packet(&s);
		if (rc)
			break;
		if (rate && s.n == 0)
			sleep_until(start + (uint64_t)((unsigned __int128)msgs * 1000000000u / rate));
		mold_put_be16(s.pkt + s.len, (uint16_t)v.len);
		memcpy(s.pkt + s.len + 2, v.data, v.len);
		s.len += 2 + v.len;
		s.n++;
		msgs++;
	}
	if (rc == 0 && nrc < 0)
		fprintf(stderr, "tickpipe mold-send: warning: %s; sending the %" PRIu64 " records before it\n", err, msgs);
	if (rc == 0)
		rc = flush_packet(&s);
	for (int k = 0; rc == 0 && k < SEND_EOS_COPIES; k++) {
		uint8_t eos[MOLD_HDR_BYTES];
		if (k) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
		mold_hdr_write(eos, s.session, s.first_seq, MOLD_COUNT_EOS);
		rc = send_packet(&s, eos, sizeof(eos));
	}
	close(s.fd);
	cap_close(&r);
	if (rc) {
		fprintf(stderr, "tickpipe mold-send: sending to %s: %s\n", group, strerror(-rc));
		return EXIT_FAIL;
	}
	if (!quiet)
		fprintf(stderr, "tickpipe mold-send: %" PRIu64 " messages in %" PRIu64 " packets to %s, session %s; "
			"%" PRIu64 " packets (%" PRIu64 " messages) dropped by --drop-every; end of session at "
			"sequence %" PRIu64 "\n", msgs, s.packets, group, s.session, s.dropped_packets, s.dropped_msgs,
			s.first_seq);
	return EXIT_OK;
}
