/* The C core of fastpath: RFC 1071 sums and TSO segmentation, compiled by cffi (API mode).
 *
 * Mirrors Linux's lib/checksum.c (do_csum, csum_partial), include/net/checksum.h
 * (csum_fold, csum_replace2) and, for tso_segment, QEMU's hw/net/e1000.c xmit_seg.
 * Each function has a pure-Python twin in fastpath/_pure.py that returns the same value for
 * every input; fastpath/_c.py validates arguments and falls back to the twin for anything
 * these C types cannot carry (negative or huge ints, odd buffer types).
 *
 * Sums are taken in the host's byte order and byte-swapped once at the end: a one's-
 * complement sum is byte-order independent (RFC 1071 §2(B)).  "Folded" means end-around
 * carry to 16 bits, which maps 0 to 0 and any other value to 1..0xFFFF (never 0): the same
 * representative the twin's ``big % 0xFFFF or 0xFFFF`` picks.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define IX_CHUNK ((size_t)1 << 30) /* bytes summed before a fold: 2^28 words < 2^60 */

/* End-around carry fold of a 64-bit sum of 16-bit words to 0..0xFFFF (0 only for 0). */
static uint32_t ix_fold(uint64_t x)
{
    x = (x & 0xffffffffu) + (x >> 32);
    x = (x & 0xffffffffu) + (x >> 32);
    x = (x & 0xffffu) + (x >> 16);
    x = (x & 0xffffu) + (x >> 16);
    x = (x & 0xffffu) + (x >> 16);
    return (uint32_t)x;
}

static int ix_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first;
}

/* The folded one's-complement sum of big-endian 16-bit words, odd tail padded with zero. */
static uint32_t ix_sum(const unsigned char *p, size_t n)
{
    uint64_t total = 0;
    while (n >= 4) {
        size_t chunk = n < IX_CHUNK ? n & ~(size_t)3 : IX_CHUNK;
        uint64_t a = 0, b = 0;
        size_t i = 0;
        for (; i + 8 <= chunk; i += 8) {
            uint32_t w0, w1;
            memcpy(&w0, p + i, 4);
            memcpy(&w1, p + i + 4, 4);
            a += w0;
            b += w1;
        }
        if (i < chunk) {
            uint32_t w;
            memcpy(&w, p + i, 4);
            a += w;
        }
        total += ix_fold(a) + ix_fold(b);
        p += chunk;
        n -= chunk;
    }
    if (n >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        total += w;
        p += 2;
        n -= 2;
    }
    if (n) {
        const unsigned char last[2] = {p[0], 0};
        uint16_t w;
        memcpy(&w, last, 2);
        total += w;
    }
    uint32_t s = ix_fold(total);
    if (ix_little_endian())
        s = ((s & 0xffu) << 8) | (s >> 8);
    return s;
}

uint32_t ix_csum_partial(const char *data, size_t len, uint64_t initial)
{
    return ix_fold((uint64_t)ix_sum((const unsigned char *)data, len) + ix_fold(initial));
}

uint32_t ix_csum_fold(uint64_t total)
{
    return ~ix_fold(total) & 0xffffu;
}

uint32_t ix_internet_checksum(const char *data, size_t len, uint64_t initial)
{
    return ~ix_csum_partial(data, len, initial) & 0xffffu;
}

uint32_t ix_csum_replace2(int64_t check, int64_t old, uint64_t new_)
{
    uint64_t total = (uint64_t)(~check & 0xffff) + (uint64_t)(~old & 0xffff) + ix_fold(new_);
    return ~ix_fold(total) & 0xffffu;
}

uint32_t ix_csum_copy(char *dst, size_t dst_off, const char *src, size_t len, uint64_t initial)
{
    uint32_t s = ix_csum_partial(src, len, initial);
    memcpy(dst + dst_off, src, len);
    return s;
}

static uint32_t ix_get16(const unsigned char *p)
{
    return ((uint32_t)p[0] << 8) | p[1];
}

static void ix_put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void ix_store_csum(unsigned char *p, uint32_t partial)
{
    uint32_t c = ~partial & 0xffffu;
    ix_put16(p, c ? c : 0xffffu);
}

/* Segments are laid out back to back in ``out``: segment k at k * (hdr_len + mss), each
 * hdr_len + mss bytes long but the last.  Arguments were checked by fastpath._pure.tso_args;
 * they are checked again here so that no call can read or write out of bounds.
 * Returns the number of segments, or -1 when the arguments are unusable. */
long ix_tso_segment(const char *packet, size_t pkt_len, size_t l3, size_t l4, size_t hdr_len,
                    size_t mss, long ip_id_start, int tcp, int ipv6, long ipcso, size_t ip_end,
                    long tucso, char *out, size_t out_len)
{
    const unsigned char *pkt = (const unsigned char *)packet;
    unsigned char *o = (unsigned char *)out;
    size_t ip_hdr = ipv6 ? 40 : 20;
    if (hdr_len == 0 || hdr_len > pkt_len || mss == 0 || l3 > hdr_len
        || ip_hdr > hdr_len - l3 || l4 > hdr_len || (tcp ? 20u : 8u) > hdr_len - l4)
        return -1;
    if (ipcso >= 0 && (ipv6 || (size_t)ipcso + 2 > hdr_len || ip_end > hdr_len
                       || (ip_end && ip_end <= l3)))
        return -1;
    if (tucso >= 0 && (size_t)tucso + 2 > hdr_len)
        return -1;
    size_t total = pkt_len - hdr_len;
    size_t nseg = total ? (total - 1) / mss + 1 : 1;
    if (out_len != nseg * hdr_len + total)
        return -1;

    /* The header template goes into every segment's slot first, then each is patched. */
    memcpy(o, pkt, hdr_len);
    if (ipcso >= 0)
        o[ipcso] = o[ipcso + 1] = 0;
    if (tucso >= 0)
        o[tucso] = o[tucso + 1] = 0;
    uint32_t ip_id = 0, seq = 0, flags = 0, flags_mid = 0;
    uint64_t pseudo_base;
    if (!ipv6) {
        ip_id = ip_id_start >= 0 ? (uint32_t)ip_id_start : ix_get16(o + l3 + 4);
        pseudo_base = ix_sum(o + l3 + 12, 8);
    } else {
        pseudo_base = ix_sum(o + l3 + 8, 32);
    }
    pseudo_base += tcp ? 6 : 17;
    if (tcp) {
        const unsigned char *s = o + l4 + 4;
        seq = ((uint32_t)s[0] << 24) | ((uint32_t)s[1] << 16) | ((uint32_t)s[2] << 8) | s[3];
        flags = o[l4 + 13];
        flags_mid = flags & ~0x09u; /* PSH and FIN: last segment only */
    }
    size_t stride = hdr_len + mss;
    for (size_t k = 1; k < nseg; k++)
        memcpy(o + k * stride, o, hdr_len);

    size_t len_off = ipv6 ? l3 + 4 : l3 + 2;
    size_t len_base = ipv6 ? l3 + 40 : l3;
    for (size_t k = 0; k < nseg; k++) {
        unsigned char *seg = o + k * stride;
        size_t plen = k + 1 < nseg ? mss : total - k * mss;
        size_t n = hdr_len + plen;
        memcpy(seg + hdr_len, pkt + hdr_len + k * mss, plen);
        ix_put16(seg + len_off, (uint32_t)(n - len_base));
        if (!ipv6)
            ix_put16(seg + l3 + 4, (ip_id + (uint32_t)k) & 0xffffu);
        if (tcp) {
            uint32_t sq = seq + (uint32_t)(k * mss);
            seg[l4 + 4] = (unsigned char)(sq >> 24);
            seg[l4 + 5] = (unsigned char)(sq >> 16);
            seg[l4 + 6] = (unsigned char)(sq >> 8);
            seg[l4 + 7] = (unsigned char)sq;
            seg[l4 + 13] = (unsigned char)(k + 1 == nseg ? flags : flags_mid);
        } else {
            ix_put16(seg + l4 + 4, (uint32_t)(n - l4));
        }
        if (ipcso >= 0) {
            size_t end = ip_end ? ip_end : n;
            ix_store_csum(seg + ipcso, ix_sum(seg + l3, end - l3));
        }
        if (tucso >= 0) {
            uint64_t seed = pseudo_base + (n - l4);
            ix_store_csum(seg + tucso, ix_fold((uint64_t)ix_sum(seg + l4, n - l4) + seed));
        }
    }
    return (long)nseg;
}
