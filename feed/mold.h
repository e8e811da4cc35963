/* mold.h - MoldUDP64: the packet format, a receiver over io_uring, per-session sequence tracking
 *
 * A MoldUDP64 downstream packet (NASDAQ "MoldUDP64 Protocol Specification"
 * 1.00), all integers big-endian:
 *
 *   off size  field
 *     0  10   session (ASCII, padded on the right with spaces)
 *    10   8   sequence number of the first message in the packet
 *    18   2   message count: 0 = heartbeat (the sequence number is then the
 *             next one to come), 0xFFFF = end of session (likewise)
 *    20       `count` message blocks: a 2-byte length, then the message
 *
 * For ITCH 5.0 each message is one ITCH message without any prefix, which
 * is exactly a FEED_ITCH50 raw record (docs/capture-format.md): a message
 * received here and a message imported from a BinaryFILE decode alike.
 *
 * The receiver (struct mold_rx) owns a UDP socket (bound to the group, joined
 * with IP_ADD_MEMBERSHIP on the configured interface; or bound to a unicast
 * address) and an io_uring that receives into buffers of MOLD_BUF_BYTES:
 *   - multishot: one IORING_OP_RECVMSG with IORING_RECV_MULTISHOT over a
 *     ring of provided buffers (kernel 6.0+). Each packet is one completion;
 *     reaping it is a read of the completion ring, no system call; a buffer
 *     goes back to the kernel as soon as its packet is consumed.
 *   - batch: recv_batch IORING_OP_RECVMSG requests, each with its own
 *     buffer, re-armed as their packets are consumed (one io_uring_enter for
 *     all the re-arms of a poll). Used when the kernel refuses multishot
 *     (recv_mode "auto") or when asked for.
 * Either way the receive time is the kernel's (SO_TIMESTAMPNS, unix ns), the
 * ingress tick is taken when the packet's completion is reaped, and nothing
 * blocks: mold_rx_peek() returns 0 when no packet is there.
 *
 * Sequence tracking (struct mold_track, in caller memory: the mold stage
 * keeps it in its state region so a restarted process knows what it had
 * emitted). Per session (up to MOLD_SESSIONS_MAX; a new session starts at
 * sequence 1) the receiver keeps the next expected sequence number:
 *   - a packet (or heartbeat, or end of session) whose sequence is beyond it
 *     is a gap: MOLD_R_GAP += 1, MOLD_R_LOST += the messages skipped; the
 *     messages after the gap are used. There is no retransmission request
 *     (no MoldUDP64 request server is contacted): lost messages stay lost,
 *     and the decoder's books may be wrong until the next day (ITCH) - the
 *     counters say how much was lost.
 *   - messages below it (a duplicate packet, e.g. from an A/B feed pair or a
 *     replay of the same packet) are dropped: MOLD_R_DUP += each.
 *   - a packet whose message blocks run past its end (MOLD_R_MALFORMED) or
 *     that the buffer cut (MOLD_R_TRUNCATED) gives the messages before the
 *     cut; the rest count as MOLD_R_LOST and the next expected sequence
 *     moves past the whole packet.
 *   - the first packet of a session seen starting beyond sequence 1 (a
 *     receiver that joined late) counts the messages before it as one gap.
 *   - a sequence number more than 2^32 ahead of the expected one, or one
 *     that would wrap, is not believed: the packet is MOLD_R_MALFORMED and
 *     the expected sequence does not move.
 *   - an end-of-session packet ends the stream (mold_rx_peek returns
 *     MOLD_RX_END from then on): a pipeline drains and finishes.
 * With session filter "" every session is accepted (each tracked on its
 * own); otherwise packets of other sessions are dropped (MOLD_R_OTHER_SESSION).
 */
#ifndef TP_MOLD_H
#define TP_MOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"

#define MOLD_HDR_BYTES     20u
#define MOLD_SESSION_LEN   10u
#define MOLD_COUNT_EOS     0xFFFFu      /* end of session */
#define MOLD_COUNT_MAX     0xFFFEu      /* messages in one packet at most */
#define MOLD_BUF_BYTES     2048u        /* one receive buffer (packet plus recvmsg metadata) */
#define MOLD_PACKET_MAX    1472u        /* what the sender puts in one packet: a 1500-byte MTU */
#define MOLD_SESSIONS_MAX  4u

/* Counters (also the mold stage's reason names, in this order). */
enum mold_reason {
	MOLD_R_GAP = 0,            /* sequence jumps */
	MOLD_R_LOST = 1,           /* messages in those jumps, and after a cut in a bad packet */
	MOLD_R_DUP = 2,            /* messages already received, dropped */
	MOLD_R_STALE = 3,          /* stale-feed episodes (stage: mold.stale_ms) */
	MOLD_R_TRUNCATED = 4,      /* packets longer than the receive buffer */
	MOLD_R_MALFORMED = 5,      /* packets shorter than the header or with a bad message block */
	MOLD_R_OTHER_SESSION = 6,  /* packets of a session not taken (filter, or too many sessions) */
	MOLD_R_HEARTBEAT = 7,      /* heartbeat packets */
	MOLD_R_END = 8,            /* end-of-session packets */
	MOLD_R_TOO_BIG = 9,        /* stage: messages longer than rings.raw_max_record, skipped */
	MOLD_R_RECV_ERROR = 10,    /* receive completions with an error */
	MOLD_R_PACKETS = 11,       /* packets received (all kinds) */
	MOLD_R_MAX = 12,
};

extern const char *const mold_reason_names[MOLD_R_MAX + 1];   /* NULL-terminated */

struct mold_session {
	char name[MOLD_SESSION_LEN];  /* as on the wire, space-padded */
	uint8_t used;
	uint8_t pad[5];
	uint64_t next;                /* sequence number expected next */
};

_Static_assert(sizeof(struct mold_session) == 24, "mold_session is 24 bytes");

struct mold_track {
	struct mold_session sess[MOLD_SESSIONS_MAX];
	uint64_t count[MOLD_R_MAX];   /* enum mold_reason */
	uint32_t ended;               /* an end-of-session packet was taken */
	uint32_t pad;
};

_Static_assert(sizeof(struct mold_track) == 24 * MOLD_SESSIONS_MAX + 8 * MOLD_R_MAX + 8, "mold_track size");

/* One message, pointing into the receive buffer (valid until mold_rx_next). */
struct mold_msg {
	const uint8_t *data;
	uint32_t len;
	uint32_t session;             /* index in mold_track.sess */
	uint64_t seq;                 /* its MoldUDP64 sequence number */
	uint64_t recv_ns;             /* the kernel's receive time of its packet, unix ns */
	uint64_t ingress_tick;        /* tsc when its packet was reaped */
};

#define MOLD_RX_END (-1)          /* mold_rx_peek: the session ended */

enum mold_mode { MOLD_MODE_MULTISHOT = 1, MOLD_MODE_BATCH = 2 };

struct mold_rx_ring;             /* io_uring and buffers (mold.c) */

struct mold_rx {
	int fd;
	int mode;                     /* enum mold_mode in use */
	struct mold_rx_ring *r;
	char filter[MOLD_SESSION_LEN];
	bool filtered;
	bool multicast;
	/* The packet being consumed. */
	bool have;
	uint32_t buf;                 /* its buffer (id / slot) */
	const uint8_t *pkt;
	uint32_t pkt_len, off;        /* bytes; offset of the next message block */
	uint32_t left;                /* messages of the packet not consumed */
	uint32_t sess;
	bool cut;                     /* the buffer cut the packet (MSG_TRUNC) */
	uint64_t seq;                 /* of the next message of the packet */
	uint64_t end_seq;             /* sequence after the packet's last message */
	uint64_t recv_ns, tick;
	/* Peeked message (for mold_rx_next). */
	uint32_t peek_len;
	/* Liveness, for a stale-feed check: monotonic ns of the last packet. */
	uint64_t last_packet_ns;
	uint64_t rearms;              /* multishot requests armed (1 + re-arms after ENOBUFS) */
	int last_error;               /* the latest receive error (negative errno) */
	char where[2 * CONFIG_LISTEN_MAX + 8];   /* "239.1.2.3:26477 on 127.0.0.1" */
	char desc[2 * CONFIG_LISTEN_MAX + 24];   /* where, then " (multishot)" or " (batch)" */
};

/* ---- the packet format ---- */

static inline uint64_t mold_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline uint16_t mold_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void mold_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline void mold_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Writes a packet header: session (space-padded to 10 bytes; a longer name
 * is cut), sequence number and message count. */
static inline void mold_hdr_write(uint8_t *p, const char *session, uint64_t seq, uint16_t count)
{
	size_t n = strlen(session);
	memset(p, ' ', MOLD_SESSION_LEN);
	memcpy(p, session, n < MOLD_SESSION_LEN ? n : MOLD_SESSION_LEN);
	mold_put_be64(p + 10, seq);
	mold_put_be16(p + 18, count);
}

/* The session name of a config/command line: 1..10 characters, padded with
 * spaces into out[10]. Returns 0 or -EINVAL. */
int mold_session_pad(const char *name, char out[MOLD_SESSION_LEN]);

/* ---- the receiver ---- */

/* Opens the socket and the io_uring from cfg (group, interface, session,
 * recv_batch, recv_mode, rcvbuf_kb). Returns 0, or a negative errno with err
 * naming the address and what failed (a bad group, bind, join, io_uring
 * setup); nothing is left open then. */
int mold_rx_open(struct mold_rx *rx, const struct config_mold *cfg, char *err, size_t errlen);

/* The next message, without blocking: 1 and *m filled; 0 when no packet is
 * there now; MOLD_RX_END once an end-of-session packet was taken (t->ended).
 * Packets are checked and counted into t as they are taken (gaps, dups, ...).
 * The same message is returned again until mold_rx_next() consumes it. */
int mold_rx_peek(struct mold_rx *rx, struct mold_track *t, struct mold_msg *m);

/* Consumes the message the last mold_rx_peek returned (t: the next sequence). */
void mold_rx_next(struct mold_rx *rx, struct mold_track *t);

/* Blocks up to timeout_ms for a packet (tools; never a stage). Returns 0 or
 * a negative errno (-EINTR when a signal came). */
int mold_rx_wait(struct mold_rx *rx, int timeout_ms);

void mold_rx_close(struct mold_rx *rx);

#endif
