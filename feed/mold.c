/* mold.c - MoldUDP64 receiver: a UDP socket read through io_uring (multishot or batched recvmsg) */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#include "feed/mold.h"

/* Largest forward jump of the sequence number taken as a gap (a late join
 * into a trading day is a few hundred million messages). */
#define MOLD_MAX_JUMP (1ULL << 32)
#include "monitor/tsc.h"
#include "rings/errmsg.h"

#define MOLD_BGID       7u                          /* provided-buffer group of the multishot request */
#define MOLD_CTRL_BYTES CMSG_SPACE(sizeof(struct timespec))
#define UD_MULTISHOT    UINT64_MAX                  /* user_data of the multishot request */

const char *const mold_reason_names[MOLD_R_MAX + 1] = {
	[MOLD_R_GAP] = "gap",
	[MOLD_R_LOST] = "lost",
	[MOLD_R_DUP] = "dup",
	[MOLD_R_STALE] = "stale",
	[MOLD_R_TRUNCATED] = "truncated",
	[MOLD_R_MALFORMED] = "malformed",
	[MOLD_R_OTHER_SESSION] = "other_session",
	[MOLD_R_HEARTBEAT] = "heartbeat",
	[MOLD_R_END] = "end_of_session",
	[MOLD_R_TOO_BIG] = "too_big",
	[MOLD_R_RECV_ERROR] = "recv_error",
	[MOLD_R_PACKETS] = "packets",
	[MOLD_R_MAX] = NULL,
};

/* Batch mode: one recvmsg request per slot, into buffer `slot`. */
struct mold_slot {
	struct msghdr mh;
	struct iovec iov;
	struct sockaddr_in from;
	uint8_t ctrl[MOLD_CTRL_BYTES];
	bool armed;
};

struct mold_rx_ring {
	struct io_uring ring;
	uint32_t nbufs;
	uint8_t *bufs;                  /* nbufs * MOLD_BUF_BYTES */
	/* multishot */
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	bool br_registered;
	bool armed;                     /* the multishot request is active */
	bool delivered;                 /* it has completed with data at least once */
	bool auto_mode;                 /* may fall back to batch */
	struct msghdr mh;               /* the multishot template: name and control sizes */
	/* batch */
	struct mold_slot *slots;
};

int mold_session_pad(const char *name, char out[MOLD_SESSION_LEN])
{
	size_t n = strlen(name);
	if (n == 0 || n > MOLD_SESSION_LEN)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (name[i] < 0x21 || name[i] > 0x7e)
			return -EINVAL;
	memset(out, ' ', MOLD_SESSION_LEN);
	memcpy(out, name, n);
	return 0;
}

static uint64_t ts_ns(const struct cmsghdr *cm)
{
	struct timespec ts;
	memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- arming receives ---- */

static int arm_multishot(struct mold_rx *rx)
{
	struct mold_rx_ring *r = rx->r;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_recvmsg_multishot(sqe, rx->fd, &r->mh, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = MOLD_BGID;
	io_uring_sqe_set_data64(sqe, UD_MULTISHOT);
	r->armed = true;
	rx->rearms++;
	return 0;
}

static int arm_slot(struct mold_rx *rx, uint32_t i)
{
	struct mold_rx_ring *r = rx->r;
	struct mold_slot *s = &r->slots[i];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	if (!sqe)
		return -EBUSY;                  /* cannot happen: the SQ holds one per slot */
	s->iov.iov_base = r->bufs + (size_t)i * MOLD_BUF_BYTES;
	s->iov.iov_len = MOLD_BUF_BYTES;
	memset(&s->mh, 0, sizeof(s->mh));
	s->mh.msg_name = &s->from;
	s->mh.msg_namelen = sizeof(s->from);
	s->mh.msg_iov = &s->iov;
	s->mh.msg_iovlen = 1;
	s->mh.msg_control = s->ctrl;
	s->mh.msg_controllen = sizeof(s->ctrl);
	io_uring_prep_recvmsg(sqe, rx->fd, &s->mh, 0);
	io_uring_sqe_set_data64(sqe, i);
	s->armed = true;
	return 0;
}

/* Returns a consumed packet's buffer to the kernel. */
static void release_buf(struct mold_rx *rx, uint32_t buf)
{
	struct mold_rx_ring *r = rx->r;
	if (rx->mode == MOLD_MODE_MULTISHOT) {
		io_uring_buf_ring_add(r->br, r->bufs + (size_t)buf * MOLD_BUF_BYTES, MOLD_BUF_BYTES, (unsigned short)buf,
				      io_uring_buf_ring_mask(r->nbufs), 0);
		/* Release (inside): the buffer entry is written before the kernel sees the new tail. */
		io_uring_buf_ring_advance(r->br, 1);
	} else {
		arm_slot(rx, buf);              /* submitted with the next idle poll */
	}
}

static int setup_multishot(struct mold_rx *rx)
{
	struct mold_rx_ring *r = rx->r;
	r->br_bytes = (size_t)r->nbufs * sizeof(struct io_uring_buf);
	void *p = mmap(NULL, r->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	r->br = p;
	struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)p, .ring_entries = r->nbufs, .bgid = MOLD_BGID };
	int rc = io_uring_register_buf_ring(&r->ring, &reg, 0);
	if (rc) {
		munmap(p, r->br_bytes);
		r->br = NULL;
		return rc;
	}
	r->br_registered = true;
	io_uring_buf_ring_init(r->br);
	for (uint32_t i = 0; i < r->nbufs; i++)
		io_uring_buf_ring_add(r->br, r->bufs + (size_t)i * MOLD_BUF_BYTES, MOLD_BUF_BYTES, (unsigned short)i,
				      io_uring_buf_ring_mask(r->nbufs), (int)i);
	io_uring_buf_ring_advance(r->br, (int)r->nbufs);
	memset(&r->mh, 0, sizeof(r->mh));
	r->mh.msg_namelen = sizeof(struct sockaddr_in);
	r->mh.msg_controllen = MOLD_CTRL_BYTES;
	rx->mode = MOLD_MODE_MULTISHOT;
	return arm_multishot(rx);
}

static void teardown_multishot(struct mold_rx *rx)
{
	struct mold_rx_ring *r = rx->r;
	if (r->br_registered)
		io_uring_unregister_buf_ring(&r->ring, MOLD_BGID);
	if (r->br)
		munmap(r->br, r->br_bytes);
	r->br = NULL;
	r->br_registered = false;
	r->armed = false;
}

static int setup_batch(struct mold_rx *rx)
{
	struct mold_rx_ring *r = rx->r;
	if (!r->slots) {
		r->slots = calloc(r->nbufs, sizeof(*r->slots));
		if (!r->slots)
			return -ENOMEM;
	}
	rx->mode = MOLD_MODE_BATCH;
	for (uint32_t i = 0; i < r->nbufs; i++) {
		int rc = arm_slot(rx, i);
		if (rc)
			return rc;
	}
	return 0;
}

/* Hands queued requests to the kernel and re-arms a multishot request that
 * ended (ran out of buffers): only when idle, so one enter covers them all. */
static void resubmit(struct mold_rx *rx)
{
	struct mold_rx_ring *r = rx->r;
	if (rx->mode == MOLD_MODE_MULTISHOT && !r->armed)
		arm_multishot(rx);
	if (io_uring_sq_ready(&r->ring)) {
		int rc = io_uring_submit(&r->ring);
		if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR)
			rx->last_error = rc;
	}
}

/* ---- taking packets ---- */

struct mold_pkt {
	uint32_t buf;
	const uint8_t *data;
	uint32_t len;
	bool cut;
	uint64_t recv_ns;
};

/* The next received packet from the completion ring, or false when none is
 * there. Error completions are counted and skipped. */
static bool reap(struct mold_rx *rx, struct mold_track *t, struct mold_pkt *p)
{
	struct mold_rx_ring *r = rx->r;
	bool resubmitted = false;

	for (;;) {
		struct io_uring_cqe *cqe;
		if (io_uring_peek_cqe(&r->ring, &cqe) != 0) {
			if (resubmitted)
				return false;
			resubmit(rx);
			resubmitted = true;
			continue;
		}
		uint64_t ud = cqe->user_data;
		int res = cqe->res;
		uint32_t flags = cqe->flags;
		io_uring_cqe_seen(&r->ring, cqe);

		if (ud == UD_MULTISHOT) {
			if (!(flags & IORING_CQE_F_MORE))
				r->armed = false;
			if (res < 0) {
				if (flags & IORING_CQE_F_BUFFER)
					release_buf(rx, flags >> IORING_CQE_BUFFER_SHIFT);
				if (res == -ENOBUFS)
					continue;           /* every buffer is waiting to be consumed: re-armed when idle */
				if (res == -EINVAL && r->auto_mode && !r->delivered) {
					/* A kernel without multishot recvmsg: batched requests instead. */
					teardown_multishot(rx);
					if (setup_batch(rx) == 0)
						snprintf(rx->desc, sizeof(rx->desc), "%s (batch)", rx->where);
					continue;
				}
				t->count[MOLD_R_RECV_ERROR]++;
				rx->last_error = res;
				continue;
			}
			if (!(flags & IORING_CQE_F_BUFFER))
				continue;
			r->delivered = true;
			uint32_t bid = flags >> IORING_CQE_BUFFER_SHIFT;
			uint8_t *b = r->bufs + (size_t)bid * MOLD_BUF_BYTES;
			struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(b, res, &r->mh);
			if (!o) {
				t->count[MOLD_R_MALFORMED]++;
				release_buf(rx, bid);
				continue;
			}
			p->buf = bid;
			p->data = io_uring_recvmsg_payload(o, &r->mh);
			p->len = io_uring_recvmsg_payload_length(o, res, &r->mh);
			p->cut = (o->flags & MSG_TRUNC) != 0;
			p->recv_ns = 0;
			for (struct cmsghdr *cm = io_uring_recvmsg_cmsg_firsthdr(o, &r->mh); cm;
			     cm = io_uring_recvmsg_cmsg_nexthdr(o, &r->mh, cm))
				if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS &&
				    cm->cmsg_len >= CMSG_LEN(sizeof(struct timespec)))
					p->recv_ns = ts_ns(cm);
		} else {
			if (ud >= r->nbufs)
				continue;                   /* not ours */
			uint32_t i = (uint32_t)ud;
			struct mold_slot *s = &r->slots[i];
			s->armed = false;
			if (res < 0) {
				if (res != -EAGAIN && res != -EINTR) {
					t->count[MOLD_R_RECV_ERROR]++;
					rx->last_error = res;
				}
				arm_slot(rx, i);
				continue;
			}
			p->buf = i;
			p->data = r->bufs + (size_t)i * MOLD_BUF_BYTES;
			p->len = (uint32_t)res;
			p->cut = (s->mh.msg_flags & MSG_TRUNC) != 0;
			p->recv_ns = 0;
			for (struct cmsghdr *cm = CMSG_FIRSTHDR(&s->mh); cm; cm = CMSG_NXTHDR(&s->mh, cm))
				if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS &&
				    cm->cmsg_len >= CMSG_LEN(sizeof(struct timespec)))
					p->recv_ns = ts_ns(cm);
		}
		if (!p->recv_ns)
			p->recv_ns = tsc_unix_ns();
		return true;
	}
}

/* The session slot of a packet's session name, taking a free one for a new
 * session; -1 when the filter refuses it or every slot is taken. */
static int session_of(struct mold_rx *rx, struct mold_track *t, const uint8_t *name)
{
	if (rx->filtered && memcmp(name, rx->filter, MOLD_SESSION_LEN))
		return -1;
	for (uint32_t i = 0; i < MOLD_SESSIONS_MAX; i++)
		if (t->sess[i].used && !memcmp(t->sess[i].name, name, MOLD_SESSION_LEN))
			return (int)i;
	for (uint32_t i = 0; i < MOLD_SESSIONS_MAX; i++)
		if (!t->sess[i].used) {
			memcpy(t->sess[i].name, name, MOLD_SESSION_LEN);
			t->sess[i].used = 1;
			t->sess[i].next = 1;        /* a session starts at sequence 1 */
			return (int)i;
		}
	return -1;
}

/* Counts a jump to `seq` in session s as a gap. */
static void jump_to(struct mold_track *t, struct mold_session *s, uint64_t seq)
{
	if (seq > s->next) {
		t->count[MOLD_R_GAP]++;
		t->count[MOLD_R_LOST] += seq - s->next;
		s->next = seq;
	}
}

static void drop_packet(struct mold_rx *rx)
{
	if (rx->have)
		release_buf(rx, rx->buf);
	rx->have = false;
}

/* The rest of the current packet cannot be read: its messages are lost. */
static void packet_cut(struct mold_rx *rx, struct mold_track *t)
{
	struct mold_session *s = &t->sess[rx->sess];
	t->count[rx->cut ? MOLD_R_TRUNCATED : MOLD_R_MALFORMED]++;
	if (rx->end_seq > s->next) {
		t->count[MOLD_R_LOST] += rx->end_seq - s->next;
		s->next = rx->end_seq;
	}
	drop_packet(rx);
}

/* Reads the block at rx->off: its length, or -1 when it runs past the packet. */
static int block_len(const struct mold_rx *rx)
{
	if (rx->off + 2 > rx->pkt_len)
		return -1;
	uint32_t n = mold_be16(rx->pkt + rx->off);
	if (rx->off + 2 + n > rx->pkt_len)
		return -1;
	return (int)n;
}

/* Takes the next data packet that has messages we have not seen. Returns
 * true with rx->have set, false when none is there (or the session ended). */
static bool take_packet(struct mold_rx *rx, struct mold_track *t)
{
	struct mold_pkt p;
	while (!t->ended && reap(rx, t, &p)) {
		t->count[MOLD_R_PACKETS]++;
		rx->last_packet_ns = tsc_mono_ns();
		rx->have = true;
		rx->buf = p.buf;
		if (p.len < MOLD_HDR_BYTES) {
			t->count[p.cut ? MOLD_R_TRUNCATED : MOLD_R_MALFORMED]++;
			drop_packet(rx);
			continue;
		}
		int si = session_of(rx, t, p.data);
		if (si < 0) {
			t->count[MOLD_R_OTHER_SESSION]++;
			drop_packet(rx);
			continue;
		}
		struct mold_session *s = &t->sess[si];
		uint64_t seq = mold_be64(p.data + 10);
		uint16_t count = mold_be16(p.data + 18);
		/* A sequence number that wraps, or leaps further ahead than any
		 * session produces, is a damaged or foreign packet: believing it
		 * would move the session past every real message after it. */
		if (seq > UINT64_MAX - MOLD_COUNT_EOS || (seq > s->next && seq - s->next > MOLD_MAX_JUMP)) {
			t->count[MOLD_R_MALFORMED]++;
			drop_packet(rx);
			continue;
		}
		if (count == 0 || count == MOLD_COUNT_EOS) {
			/* Heartbeat or end of session: seq is the next message to come. */
			jump_to(t, s, seq);
			if (count == 0) {
				t->count[MOLD_R_HEARTBEAT]++;
			} else {
				t->count[MOLD_R_END]++;
				t->ended = 1;
			}
			drop_packet(rx);
			continue;
		}
		jump_to(t, s, seq);
		if (seq + count <= s->next) {
			t->count[MOLD_R_DUP] += count;
			drop_packet(rx);
			continue;
		}
		rx->pkt = p.data;
		rx->pkt_len = p.len;
		rx->off = MOLD_HDR_BYTES;
		rx->left = count;
		rx->sess = (uint32_t)si;
		rx->cut = p.cut;
		rx->seq = seq;
		rx->end_seq = seq + count;
		rx->recv_ns = p.recv_ns;
		rx->tick = tsc_now();
		/* Skip the messages received before (a packet overlapping what we have). */
		bool bad = false;
		while (rx->seq < s->next) {
			int n = block_len(rx);
			if (n < 0) {
				bad = true;
				break;
			}
			rx->off += 2 + (uint32_t)n;
			rx->seq++;
			rx->left--;
			t->count[MOLD_R_DUP]++;
		}
		if (bad) {
			packet_cut(rx, t);
			continue;
		}
		return true;
	}
	return false;
}

int mold_rx_peek(struct mold_rx *rx, struct mold_track *t, struct mold_msg *m)
{
	for (;;) {
		if (!rx->have && !take_packet(rx, t))
			return t->ended ? MOLD_RX_END : 0;
		if (rx->left == 0) {
			drop_packet(rx);
			continue;
		}
		int n = block_len(rx);
		if (n < 0) {
			packet_cut(rx, t);
			continue;
		}
		m->data = rx->pkt + rx->off + 2;
		m->len = (uint32_t)n;
		m->session = rx->sess;
		m->seq = rx->seq;
		m->recv_ns = rx->recv_ns;
		m->ingress_tick = rx->tick;
		rx->peek_len = (uint32_t)n;
		return 1;
	}
}

void mold_rx_next(struct mold_rx *rx, struct mold_track *t)
{
	if (!rx->have || rx->left == 0)
		return;
	rx->off += 2 + rx->peek_len;
	rx->seq++;
	rx->left--;
	t->sess[rx->sess].next = rx->seq;
	if (rx->left == 0)
		drop_packet(rx);
}

int mold_rx_wait(struct mold_rx *rx, int timeout_ms)
{
	struct mold_rx_ring *r = rx->r;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long long)(timeout_ms % 1000) * 1000000 };
	if (rx->have || io_uring_cq_ready(&r->ring))
		return 0;
	resubmit(rx);
	int rc = io_uring_wait_cqe_timeout(&r->ring, &cqe, &ts);
	return rc == -ETIME ? 0 : rc;
}

int mold_rx_open(struct mold_rx *rx, const struct config_mold *cfg, char *err, size_t errlen)
{
	char host[CONFIG_LISTEN_MAX];
	uint16_t port;
	struct in_addr group, iface = { .s_addr = htonl(INADDR_ANY) };
	struct mold_rx_ring *r = NULL;
	int rc, one = 1;

	memset(rx, 0, sizeof(*rx));
	rx->fd = -1;
	if (!cfg->group[0])
		return errmsg_fail(err, errlen, -EINVAL, "mold: no group to receive: set mold.group (\"239.1.2.3:26477\")");
	if (config_parse_listen(cfg->group, host, sizeof(host), &port) || inet_pton(AF_INET, host, &group) != 1)
		return errmsg_fail(err, errlen, -EINVAL, "mold: group \"%s\": expected an IPv4 address and a port, "
			       "like \"239.1.2.3:26477\"", cfg->group);
	if (cfg->interface[0] && inet_pton(AF_INET, cfg->interface, &iface) != 1)
		return errmsg_fail(err, errlen, -EINVAL, "mold: interface \"%s\": expected an IPv4 address", cfg->interface);
	if (cfg->session[0]) {
		if (mold_session_pad(cfg->session, rx->filter))
			return errmsg_fail(err, errlen, -EINVAL, "mold: session \"%s\": expected 1..10 visible characters",
				       cfg->session);
		rx->filtered = true;
	}
	rx->multicast = IN_MULTICAST(ntohl(group.s_addr));
	uint32_t nbufs = cfg->recv_batch ? cfg->recv_batch : 256;
	if (nbufs & (nbufs - 1) || nbufs > 32768)
		return errmsg_fail(err, errlen, -EINVAL, "mold: recv_batch %u: expected a power of two up to 32768", nbufs);

	rx->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (rx->fd < 0) {
		rc = errmsg_fail(err, errlen, -errno, "mold: socket: %s", strerror(errno));
		goto fail;
	}
	setsockopt(rx->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));   /* several receivers of one group */
	uint32_t kb = cfg->rcvbuf_kb ? cfg->rcvbuf_kb : 8192;
	int rcvbuf = (int)((kb > 1048576 ? 1048576 : kb) * 1024);
	/* SO_RCVBUFFORCE passes net.core.rmem_max (CAP_NET_ADMIN); else the capped SO_RCVBUF. */
	if (setsockopt(rx->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		setsockopt(rx->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (setsockopt(rx->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)))
		fprintf(stderr, "mold: %s: SO_TIMESTAMPNS refused (%s): receive times are taken when reaped\n",
			cfg->group, strerror(errno));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = group };
	if (bind(rx->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		rc = errmsg_fail(err, errlen, -errno, "mold: bind %s: %s", cfg->group, strerror(errno));
		goto fail;
	}
	if (rx->multicast) {
		struct ip_mreq mr = { .imr_multiaddr = group, .imr_interface = iface };
		if (setsockopt(rx->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr))) {
			rc = errmsg_fail(err, errlen, -errno, "mold: join %s on %s: %s%s", host,
				     cfg->interface[0] ? cfg->interface : "the default interface", strerror(errno),
				     errno == ENODEV ? " (no multicast route: name an interface with mold.interface)" : "");
			goto fail;
		}
	}

	r = calloc(1, sizeof(*r));
	if (!r) {
		rc = errmsg_fail(err, errlen, -ENOMEM, "mold: out of memory");
		goto fail;
	}
	rx->r = r;
	r->nbufs = nbufs;
	r->ring.ring_fd = -1;
	r->bufs = aligned_alloc(4096, (size_t)nbufs * MOLD_BUF_BYTES);
	if (!r->bufs) {
		rc = errmsg_fail(err, errlen, -ENOMEM, "mold: out of memory for %u receive buffers", nbufs);
		goto fail;
	}
	memset(r->bufs, 0, (size_t)nbufs * MOLD_BUF_BYTES);   /* touched now, not on the first packets */
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE, .cq_entries = 2 * nbufs };
	rc = io_uring_queue_init_params(nbufs, &r->ring, &p);
	if (rc < 0) {
		r->ring.ring_fd = -1;
		rc = errmsg_fail(err, errlen, rc, "mold: io_uring_queue_init: %s", strerror(-rc));
		goto fail;
	}
	const char *mode = "multishot";
	r->auto_mode = cfg->recv_mode == CONFIG_MOLD_RECV_AUTO;
	if (cfg->recv_mode != CONFIG_MOLD_RECV_BATCH) {
		rc = setup_multishot(rx);
		if (rc && cfg->recv_mode == CONFIG_MOLD_RECV_MULTISHOT) {
			rc = errmsg_fail(err, errlen, rc, "mold: multishot receive with provided buffers: %s "
				     "(recv_mode \"auto\" falls back to batched receives)", strerror(-rc));
			goto fail;
		}
		if (rc)
			teardown_multishot(rx);
	} else {
		rc = -1;
	}
	if (rc) {
		mode = "batch";
		rc = setup_batch(rx);
		if (rc) {
			rc = errmsg_fail(err, errlen, rc, "mold: batched receives: %s", strerror(-rc));
			goto fail;
		}
	}
	rc = io_uring_submit(&r->ring);
	if (rc < 0) {
		rc = errmsg_fail(err, errlen, rc, "mold: io_uring_submit: %s", strerror(-rc));
		goto fail;
	}
	rx->last_packet_ns = tsc_mono_ns();
	snprintf(rx->where, sizeof(rx->where), "%s%s%s", cfg->group, rx->multicast ? " on " : "",
		 rx->multicast ? (cfg->interface[0] ? cfg->interface : "any") : "");
	snprintf(rx->desc, sizeof(rx->desc), "%s (%s)", rx->where, mode);
	return 0;
fail:
	mold_rx_close(rx);
	return rc;
}

void mold_rx_close(struct mold_rx *rx)
{
	struct mold_rx_ring *r = rx->r;
	if (r) {
		/* Exiting the ring cancels the receives and drops the buffer
		 * ring's registration; only then is its memory unmapped. */
		if (r->ring.ring_fd >= 0)
			io_uring_queue_exit(&r->ring);
		if (r->br)
			munmap(r->br, r->br_bytes);
		free(r->slots);
		free(r->bufs);
		free(r);
	}
	if (rx->fd >= 0)
		close(rx->fd);
	rx->r = NULL;
	rx->fd = -1;
	rx->have = false;
}
