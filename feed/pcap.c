/* pcap.c - UDP datagrams out of a pcap or pcapng file (libpcap): Ethernet, VLAN, IPv4, UDP */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <pcap/pcap.h>

#include "feed/pcap.h"
#include "rings/errmsg.h"

#define ETH_HDR_LEN     14u
#define SLL_HDR_LEN     16u
#define VLAN_TAG_LEN    4u
#define VLAN_MAX_TAGS   4
#define ETHERTYPE_IPV4  0x0800u
#define ETHERTYPE_VLAN  0x8100u     /* 802.1Q */
#define ETHERTYPE_QINQ  0x88a8u     /* 802.1ad */
#define IPV4_MIN_HDR    20u
#define IPPROTO_UDP_NUM 17u
#define UDP_HDR_LEN     8u
#define NS_PER_SEC      1000000000ULL

const char *const pcap_udp_skip_names[PCAP_UDP_SKIP_MAX] = {
	[PCAP_UDP_OK] = "ok",
	[PCAP_UDP_NOT_UDP] = "not_udp",
	[PCAP_UDP_FRAGMENT] = "ip_fragment",
	[PCAP_UDP_BAD_IP] = "bad_ip",
	[PCAP_UDP_BAD_UDP] = "bad_udp",
	[PCAP_UDP_SNAPPED] = "snapped",
};

const char *const pcap_udp_skip_text[PCAP_UDP_SKIP_MAX] = {
	[PCAP_UDP_OK] = "a UDP datagram",
	[PCAP_UDP_NOT_UDP] = "not an IPv4 UDP packet",
	[PCAP_UDP_FRAGMENT] = "IPv4 fragment: fragments are not reassembled",
	[PCAP_UDP_BAD_IP] = "IPv4 header impossible (version, header length or total length)",
	[PCAP_UDP_BAD_UDP] = "UDP length below 8 or past the end of the IPv4 packet",
	[PCAP_UDP_SNAPPED] = "packet cut by the capture's snap length before its UDP payload ends",
};

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Bytes missing: snapped when the capture kept less than the wire had, else
 * the header is impossible. */
static enum pcap_udp_skip short_of(uint32_t caplen, uint32_t wirelen, enum pcap_udp_skip otherwise)
{
	return caplen < wirelen ? PCAP_UDP_SNAPPED : otherwise;
}

enum pcap_udp_skip pcap_udp_parse(int linktype, const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
				  struct pcap_udp_pkt *p)
{
	uint32_t off;
	uint16_t ethertype;

	p->caplen = caplen;
	p->wirelen = wirelen;
	p->payload = NULL;
	p->len = 0;
	p->src_ip = p->dst_ip = 0;
	p->src_port = p->dst_port = 0;
	switch (linktype) {
	case PCAP_UDP_LINK_ETHERNET:
		if (caplen < ETH_HDR_LEN)
			return p->skip = short_of(caplen, wirelen, PCAP_UDP_NOT_UDP);
		ethertype = be16(frame + 12);
		off = ETH_HDR_LEN;
		for (int tags = 0; ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ; tags++) {
			if (tags == VLAN_MAX_TAGS)
				return p->skip = PCAP_UDP_NOT_UDP;
			if (caplen < off + VLAN_TAG_LEN)
				return p->skip = short_of(caplen, wirelen, PCAP_UDP_NOT_UDP);
			ethertype = be16(frame + off + 2);
			off += VLAN_TAG_LEN;
		}
		if (ethertype != ETHERTYPE_IPV4)
			return p->skip = PCAP_UDP_NOT_UDP;
		break;
	case PCAP_UDP_LINK_SLL:
		if (caplen < SLL_HDR_LEN)
			return p->skip = short_of(caplen, wirelen, PCAP_UDP_NOT_UDP);
		if (be16(frame + 14) != ETHERTYPE_IPV4)
			return p->skip = PCAP_UDP_NOT_UDP;
		off = SLL_HDR_LEN;
		break;
	case PCAP_UDP_LINK_RAW:
		if (caplen < 1)
			return p->skip = short_of(caplen, wirelen, PCAP_UDP_NOT_UDP);
		if (frame[0] >> 4 != 4)
			return p->skip = PCAP_UDP_NOT_UDP;     /* IPv6 */
		off = 0;
		break;
	default:
		return p->skip = PCAP_UDP_NOT_UDP;
	}

	/* IPv4 */
	const uint8_t *ip = frame + off;
	uint32_t avail = caplen - off;
	if (avail < IPV4_MIN_HDR)
		return p->skip = short_of(caplen, wirelen, PCAP_UDP_BAD_IP);
	uint32_t ihl = (uint32_t)(ip[0] & 15) * 4u, total = be16(ip + 2);
	if (ip[0] >> 4 != 4 || ihl < IPV4_MIN_HDR || total < ihl)
		return p->skip = PCAP_UDP_BAD_IP;
	if (ip[9] != IPPROTO_UDP_NUM)
		return p->skip = PCAP_UDP_NOT_UDP;
	if (be16(ip + 6) & 0x3fff)          /* more fragments, or a fragment offset */
		return p->skip = PCAP_UDP_FRAGMENT;
	if (total > avail)
		return p->skip = short_of(caplen, wirelen, PCAP_UDP_BAD_IP);

	/* UDP */
	const uint8_t *udp = ip + ihl;
	uint32_t room = total - ihl;
	if (room < UDP_HDR_LEN)
		return p->skip = PCAP_UDP_BAD_UDP;
	uint32_t ulen = be16(udp + 4);
	if (ulen < UDP_HDR_LEN || ulen > room)
		return p->skip = PCAP_UDP_BAD_UDP;
	p->src_ip = be32(ip + 12);
	p->dst_ip = be32(ip + 16);
	p->src_port = be16(udp);
	p->dst_port = be16(udp + 2);
	p->payload = udp + UDP_HDR_LEN;
	p->len = ulen - UDP_HDR_LEN;
	return p->skip = PCAP_UDP_OK;
}

/* The link types of pcap_udp_parse() from libpcap's DLT_ values. */
static int link_of(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB: return PCAP_UDP_LINK_ETHERNET;
	case DLT_RAW:
#ifdef DLT_IPV4
	case DLT_IPV4:
#endif
		return PCAP_UDP_LINK_RAW;
	case DLT_LINUX_SLL: return PCAP_UDP_LINK_SLL;
	default: return -1;
	}
}

int pcap_udp_open(struct pcap_udp_reader *r, const char *path, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	uint8_t magic[4] = { 0 };

	memset(r, 0, sizeof(*r));
	if (strlen(path) >= sizeof(r->path)) {
		errmsg_set(err, errlen, "%s: path longer than %zu bytes", path, sizeof(r->path) - 1);
		return -ENAMETOOLONG;
	}
	FILE *f = fopen(path, "rbe");
	if (!f) {
		int e = errno;
		errmsg_set(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	pcap_t *pc = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, ebuf);
	if (!pc) {
		/* Only to say why: a gzip file, or nothing at all. */
		rewind(f);
		size_t got = fread(magic, 1, sizeof(magic), f);
		if (got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
			errmsg_set(err, errlen, "%s: gzip-compressed: decompress it first (gzip -dc %s > FILE.pcap)", path,
			       path);
		else if (got == 0 && !ferror(f))
			errmsg_set(err, errlen, "%s: empty file: expected a pcap or pcapng capture", path);
		else
			errmsg_set(err, errlen, "%s: not a pcap or pcapng capture libpcap reads: %s", path, ebuf);
		fclose(f);          /* libpcap leaves it open when it fails */
		return -EPROTO;
	}
	int dlt = pcap_datalink(pc);
	r->linktype = link_of(dlt);
	if (r->linktype < 0) {
		const char *name = pcap_datalink_val_to_name(dlt);
		errmsg_set(err, errlen, "%s: link type %d (%s): expected Ethernet, raw IP or Linux cooked (SLL)", path, dlt,
		       name ? name : "unknown");
		pcap_close(pc);     /* closes f */
		return -ENOTSUP;
	}
	r->pcap = pc;
	memcpy(r->path, path, strlen(path) + 1);
	return 0;
}

int pcap_udp_next(struct pcap_udp_reader *r, struct pcap_udp_pkt *p, char *err, size_t errlen)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int rc = pcap_next_ex(r->pcap, &h, &data);
	if (rc == PCAP_ERROR_BREAK)
		return 0;           /* end of the file */
	if (rc != 1) {
		errmsg_set(err, errlen, "%s: truncated or corrupt after packet %" PRIu64 " (libpcap: %s)", r->path, r->packets,
		       rc == PCAP_ERROR ? pcap_geterr(r->pcap) : "unexpected result");
		return -EPROTO;
	}
	r->packets++;
	p->number = r->packets;
	/* With PCAP_TSTAMP_PRECISION_NANO, tv_usec holds nanoseconds. */
	p->ts_ns = h->ts.tv_sec < 0 ? 0 : (uint64_t)h->ts.tv_sec * NS_PER_SEC + (uint64_t)h->ts.tv_usec;
	pcap_udp_parse(r->linktype, data, h->caplen, h->len, p);
	return 1;
}

void pcap_udp_close(struct pcap_udp_reader *r)
{
	if (r->pcap)
		pcap_close(r->pcap);
	r->pcap = NULL;
}
