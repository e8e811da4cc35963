/* pcap.h - UDP datagrams out of a pcap or pcapng file (libpcap): Ethernet, VLAN, IPv4, UDP
 *
 * The reader opens a capture with libpcap, which reads both pcap and pcapng,
 * asking for nanosecond timestamps (a microsecond file is scaled), and hands
 * out every packet with its UDP payload or the reason it has none. Link
 * types: Ethernet (with any number of 802.1Q / 802.1ad VLAN tags, up to 4),
 * raw IPv4 and Linux cooked (SLL). Only IPv4 UDP is used; fragments are not
 * reassembled (a fragmented datagram is skipped, every fragment of it
 * counted). Checksums are not checked: captures taken on the sending host
 * often hold checksums the NIC fills in later. Frame padding past the IPv4
 * total length is dropped.
 *
 * The prefix is pcap_udp_ because libpcap owns pcap_.
 *
 * Plain files only: a gzip-compressed capture is refused with a message
 * saying so (decompress it first: gzip -dc F.pcap.gz > F.pcap).
 */
#ifndef TP_PCAP_H
#define TP_PCAP_H

#include <stddef.h>
#include <stdint.h>

/* Why a packet carries no usable UDP payload. */
enum pcap_udp_skip {
	PCAP_UDP_OK = 0,
	PCAP_UDP_NOT_UDP,             /* not IPv4 UDP: ARP, IPv6, IGMP, TCP, ... (not a defect) */
	PCAP_UDP_FRAGMENT,            /* an IPv4 fragment, first or not: not reassembled */
	PCAP_UDP_BAD_IP,              /* IPv4 header impossible: version, IHL < 5, total length */
	PCAP_UDP_BAD_UDP,             /* UDP length < 8 or past the IPv4 payload */
	PCAP_UDP_SNAPPED,             /* cut by the capture's snap length before the payload ends */
	PCAP_UDP_SKIP_MAX,
};

extern const char *const pcap_udp_skip_names[PCAP_UDP_SKIP_MAX];
/* What each reason means, for a person: "IPv4 fragment: fragments are not reassembled". */
extern const char *const pcap_udp_skip_text[PCAP_UDP_SKIP_MAX];

/* Link types pcap_udp_parse() knows (the LINKTYPE_ values of pcap files). */
#define PCAP_UDP_LINK_ETHERNET  1
#define PCAP_UDP_LINK_RAW       101
#define PCAP_UDP_LINK_SLL       113

struct pcap_udp_pkt {
	uint64_t number;              /* 1-based packet number in the file */
	uint64_t ts_ns;               /* capture time, unix ns (0 for a time before 1970) */
	uint32_t caplen;              /* bytes captured */
	uint32_t wirelen;             /* bytes the packet had */
	enum pcap_udp_skip skip;      /* PCAP_UDP_OK: the fields below are set */
	uint32_t src_ip, dst_ip;      /* host byte order */
	uint16_t src_port, dst_port;
	uint32_t len;                 /* UDP payload bytes */
	const uint8_t *payload;       /* valid until the next pcap_udp_next() */
};

struct pcap_udp_reader {
	void *pcap;                   /* pcap_t *, opaque: users need no libpcap headers */
	int linktype;                 /* LINKTYPE_* of the file */
	uint64_t packets;             /* packets read so far */
	char path[256];
};

/* Finds the UDP payload of one captured frame of link type `linktype`
 * (caplen bytes at `frame`, wirelen on the wire) and fills p->skip and, when
 * PCAP_UDP_OK, the address, port and payload fields. Never reads past
 * frame + caplen. Returns p->skip. */
enum pcap_udp_skip pcap_udp_parse(int linktype, const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
				  struct pcap_udp_pkt *p);

/* Opens a pcap or pcapng file. Returns 0, or -errno when it cannot be
 * opened (-ENOENT, -EACCES, ...), -EPROTO when libpcap does not read it (not a
 * capture, gzip-compressed, a cut-off file header) and -ENOTSUP for a link
 * type other than Ethernet, raw IP or Linux cooked; err names the file and
 * what was wrong. On failure nothing stays open. */
int pcap_udp_open(struct pcap_udp_reader *r, const char *path, char *err, size_t errlen);

/* The next packet: 1 with *p filled (p->skip says whether it has a UDP
 * payload), 0 at the end of the file, -EPROTO when the rest of the file is
 * cut off or corrupt (err: "FILE: truncated or corrupt after packet N
 * (libpcap: <its words>)"; the
 * packets before it were returned). */
int pcap_udp_next(struct pcap_udp_reader *r, struct pcap_udp_pkt *p, char *err, size_t errlen);

void pcap_udp_close(struct pcap_udp_reader *r);

#endif
