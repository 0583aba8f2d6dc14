/* A fake of pymm's ef_vi shim interface (pymm_efvi.h) for CI, where no Solarflare adapter, Onload
 * driver or /dev/sfc_char exists. It is not a model of a NIC's speed; it reproduces the contract
 * the Rust backend (native/src/net/efvi.rs) must honour and the situations it must survive:
 *
 * - RX buffers are only filled if posted; batches smaller than 8 are ignored (as ef_vi does);
 *   posting a buffer twice is a contract error (counted); frames land after an RX prefix of
 *   rx_prefix_len bytes that also carries the timestamp, and the RX event's byte count includes
 *   the prefix;
 * - RX_DISCARD consumes a posted buffer; a packet with no posted buffer becomes RX_NO_DESC_TRUNC;
 * - an injected overflow becomes OFLOW;
 * - TX completions are reported in bundles (one TX event for up to `tx_bundle` sends, expanded
 *   with pymm_efvi_tx_unbundle); sends beyond the TX FIFO depth fail with -EAGAIN;
 * - timestamps come back with their sync flags, or -ENOMSG / -ENODATA / -EL2NSYNC;
 * - "X3" interfaces deliver RX_REF packet references; every reference must be released once.
 *
 * Interfaces are chosen by name: "nodev*" -> -ENOENT (no /dev/sfc_char); "eth*" -> -ENODEV;
 * "fakex3*" -> X3 (RX_REF); "fakenots*" -> no hardware RX timestamps; anything else -> EF10-like
 * with a 14-byte prefix, 64 RX and 32 TX buffers.
 *
 * Test controls (pymm_fake_*) are extra exports the Rust tests resolve from the same library.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pymm_efvi.h"

#define RX_BUFS 64
#define TX_BUFS 32
#define BUF_SIZE 2048
#define PREFIX 14
#define MAX_PENDING 256
#define MAX_REFS 64

struct pending {
  uint32_t kind; /* PYMM_EFVI_EV_RX (a packet), PYMM_EFVI_EV_RX_DISCARD, PYMM_EFVI_EV_OFLOW */
  uint32_t len;
  uint32_t discard_type;
  int32_t ts_status;
  int64_t ts_sec;
  uint32_t ts_nsec;
  uint32_t ts_flags;
  uint8_t frame[BUF_SIZE];
};

struct ref {
  int live;
  uint32_t len;
  int32_t ts_status;
  int64_t ts_sec;
  uint32_t ts_nsec;
  uint32_t ts_flags;
  uint8_t frame[BUF_SIZE];
};

struct fake {
  int x3;
  uint32_t caps;
  uint8_t rx[RX_BUFS][BUF_SIZE];
  int posted[RX_BUFS];
  uint32_t post_fifo[RX_BUFS];
  uint32_t post_head, post_count;
  uint8_t tx[TX_BUFS][BUF_SIZE];
  uint32_t tx_len[TX_BUFS];
  uint32_t tx_queue[TX_BUFS]; /* sent, not yet completed, in order */
  uint32_t tx_queued;
  uint32_t tx_bundle;
  uint32_t tx_fifo;
  uint8_t sent[TX_BUFS][BUF_SIZE];
  uint32_t sent_len[TX_BUFS];
  uint32_t sent_count;
  struct pending pend[MAX_PENDING];
  uint32_t pend_head, pend_count;
  struct ref refs[MAX_REFS];
  uint32_t udp_filters, tcp_filters;
  /* contract violations and observations */
  uint64_t small_batches_ignored, double_posts, bad_releases, bad_ids, no_desc_drops;
  uint64_t refs_outstanding, releases;
};

struct pymm_fake_counters {
  uint64_t small_batches_ignored, double_posts, bad_releases, bad_ids, no_desc_drops;
  uint64_t refs_outstanding, releases;
  uint32_t posted_now, udp_filters, tcp_filters, sent_count;
};

int pymm_efvi_abi_version(void) { return PYMM_EFVI_ABI_VERSION; }

static int caps_for(const char* ifname, struct pymm_efvi_caps* c) {
  if (!ifname) return -EINVAL;
  if (strncmp(ifname, "nodev", 5) == 0) return -ENOENT;
  if (strncmp(ifname, "eth", 3) == 0) return -ENODEV;
  memset(c, 0, sizeof(*c));
  c->abi = PYMM_EFVI_ABI_VERSION;
  c->caps = PYMM_EFVI_CAP_HW_RX_TS | PYMM_EFVI_CAP_HW_TX_TS | PYMM_EFVI_CAP_UDP_FILTER |
            PYMM_EFVI_CAP_TCP_FILTER | PYMM_EFVI_CAP_CTPIO;
  c->rx_prefix_len = PREFIX;
  c->rx_buf_count = RX_BUFS;
  c->rx_buf_size = BUF_SIZE;
  c->tx_buf_count = TX_BUFS;
  c->tx_buf_size = BUF_SIZE;
  c->arch = 1;
  if (strncmp(ifname, "fakex3", 6) == 0) {
    c->caps |= PYMM_EFVI_CAP_RX_REF;
    c->rx_prefix_len = 0;
    c->rx_buf_count = 0;
    c->arch = 4;
  }
  if (strncmp(ifname, "fakenots", 8) == 0) c->caps &= ~PYMM_EFVI_CAP_HW_RX_TS;
  return 0;
}

int pymm_efvi_query(const char* ifname, struct pymm_efvi_caps* out) { return caps_for(ifname, out); }

int pymm_efvi_open(const char* ifname, uint32_t flags, void** out) {
  struct pymm_efvi_caps c;
  int rc = caps_for(ifname, &c);
  (void)flags;
  if (rc < 0) return rc;
  struct fake* f = calloc(1, sizeof(*f));
  if (!f) return -ENOMEM;
  f->x3 = (c.caps & PYMM_EFVI_CAP_RX_REF) != 0;
  f->caps = c.caps;
  f->tx_bundle = 4;
  f->tx_fifo = TX_BUFS;
  *out = f;
  return 0;
}

void pymm_efvi_close(void* h) { free(h); }

int pymm_efvi_info(void* h, struct pymm_efvi_caps* out) {
  struct fake* f = h;
  struct pymm_efvi_caps c;
  caps_for(f->x3 ? "fakex3" : "fake", &c);
  c.caps = f->caps;
  *out = c;
  return 0;
}

int pymm_efvi_filter_udp(void* h, uint32_t daddr_be, uint16_t dport_be) {
  struct fake* f = h;
  if (dport_be == 0) return -EINVAL;
  (void)daddr_be;
  f->udp_filters++;
  return 0;
}

int pymm_efvi_filter_tcp(void* h, uint32_t laddr_be, uint16_t lport_be, uint32_t raddr_be,
                         uint16_t rport_be) {
  struct fake* f = h;
  (void)laddr_be;
  (void)raddr_be;
  if (lport_be == 0 || rport_be == 0) return -EINVAL;
  f->tcp_filters++;
  return 0;
}

const uint8_t* pymm_efvi_rx_buf(void* h, uint32_t id) {
  struct fake* f = h;
  if (f->x3 || id >= RX_BUFS) return NULL;
  return f->rx[id];
}

int pymm_efvi_rx_post(void* h, const uint32_t* ids, uint32_t n) {
  struct fake* f = h;
  if (f->x3) return -EOPNOTSUPP;
  if (n < 8) {
    f->small_batches_ignored++;
    return 0;
  }
  uint32_t done = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t id = ids[i];
    if (id >= RX_BUFS) {
      f->bad_ids++;
      continue;
    }
    if (f->posted[id]) {
      f->double_posts++;
      continue;
    }
    f->posted[id] = 1;
    f->post_fifo[(f->post_head + f->post_count) % RX_BUFS] = id;
    f->post_count++;
    done++;
  }
  return (int)done;
}

/* The RX prefix written before the frame: sec (8), nsec (4), status (1, as -errno), flags (1). */
static void write_prefix(uint8_t* p, const struct pending* e) {
  memcpy(p, &e->ts_sec, 8);
  memcpy(p + 8, &e->ts_nsec, 4);
  p[12] = (uint8_t)(-e->ts_status);
  p[13] = (uint8_t)e->ts_flags;
}

static int take_buffer(struct fake* f, uint32_t* id) {
  if (f->post_count == 0) return 0;
  *id = f->post_fifo[f->post_head];
  f->post_head = (f->post_head + 1) % RX_BUFS;
  f->post_count--;
  f->posted[*id] = 0;
  return 1;
}

int pymm_efvi_poll(void* h, struct pymm_efvi_event* evs, int max) {
  struct fake* f = h;
  int n = 0;
  if (max < 2) return -EINVAL;
  /* TX completions first, in bundles. */
  while (n < max && f->tx_queued > 0) {
    uint32_t k = f->tx_queued < f->tx_bundle ? f->tx_queued : f->tx_bundle;
    struct pymm_efvi_event* e = &evs[n++];
    memset(e, 0, sizeof(*e));
    e->type = PYMM_EFVI_EV_TX;
    e->raw[0] = 0x7478; /* "tx": marks our own events for unbundle */
    e->raw[1] = k;
    break; /* one bundle per poll: the Rust side must loop */
  }
  while (n < max && f->pend_count > 0) {
    struct pending* p = &f->pend[f->pend_head];
    struct pymm_efvi_event* e = &evs[n];
    memset(e, 0, sizeof(*e));
    if (p->kind == PYMM_EFVI_EV_OFLOW) {
      e->type = PYMM_EFVI_EV_OFLOW;
    } else if (f->x3) {
      uint32_t slot = MAX_REFS;
      for (uint32_t i = 0; i < MAX_REFS; i++)
        if (!f->refs[i].live) {
          slot = i;
          break;
        }
      if (slot == MAX_REFS) break; /* superbufs exhausted: wait for releases */
      struct ref* r = &f->refs[slot];
      r->live = 1;
      r->len = p->len;
      r->ts_status = p->ts_status;
      r->ts_sec = p->ts_sec;
      r->ts_nsec = p->ts_nsec;
      r->ts_flags = p->ts_flags;
      memcpy(r->frame, p->frame, p->len);
      f->refs_outstanding++;
      e->type = p->kind == PYMM_EFVI_EV_RX_DISCARD ? PYMM_EFVI_EV_RX_REF_DISCARD : PYMM_EFVI_EV_RX_REF;
      e->id = slot + 1000; /* packet ids are not buffer indices */
      e->bytes = p->len;
      e->flags = p->discard_type;
    } else {
      uint32_t id;
      if (!take_buffer(f, &id)) {
        e->type = PYMM_EFVI_EV_RX_NO_DESC_TRUNC;
        f->no_desc_drops++;
      } else {
        write_prefix(f->rx[id], p);
        memcpy(f->rx[id] + PREFIX, p->frame, p->len);
        e->type = p->kind == PYMM_EFVI_EV_RX_DISCARD ? PYMM_EFVI_EV_RX_DISCARD : PYMM_EFVI_EV_RX;
        e->id = id;
        e->bytes = p->len + PREFIX;
        e->flags = p->discard_type;
      }
    }
    n++;
    f->pend_head = (f->pend_head + 1) % MAX_PENDING;
    f->pend_count--;
  }
  return n;
}

static int ts_answer(int32_t status, int64_t sec, uint32_t nsec, uint32_t flags,
                     struct pymm_efvi_ts* out) {
  if (status != 0) return status;
  out->sec = sec;
  out->nsec = nsec;
  out->flags = flags;
  return 0;
}

int pymm_efvi_rx_timestamp(void* h, const uint8_t* pkt, struct pymm_efvi_ts* out) {
  struct fake* f = h;
  if (!(f->caps & PYMM_EFVI_CAP_HW_RX_TS)) return -ENODATA;
  if (f->x3) {
    for (uint32_t i = 0; i < MAX_REFS; i++)
      if (f->refs[i].live && pkt == f->refs[i].frame)
        return ts_answer(f->refs[i].ts_status, f->refs[i].ts_sec, f->refs[i].ts_nsec,
                         f->refs[i].ts_flags, out);
    f->bad_ids++;
    return -EINVAL;
  }
  /* EF10: pkt must be the start of a buffer (not the frame), as in ef_vi. */
  for (uint32_t i = 0; i < RX_BUFS; i++)
    if (pkt == f->rx[i]) {
      int64_t sec;
      uint32_t nsec;
      memcpy(&sec, pkt, 8);
      memcpy(&nsec, pkt + 8, 4);
      return ts_answer(-(int32_t)pkt[12], sec, nsec, pkt[13], out);
    }
  f->bad_ids++;
  return -EINVAL;
}

const uint8_t* pymm_efvi_rxref_get(void* h, uint32_t pkt_id) {
  struct fake* f = h;
  uint32_t slot = pkt_id - 1000;
  if (!f->x3 || slot >= MAX_REFS || !f->refs[slot].live) {
    f->bad_ids++;
    return NULL;
  }
  return f->refs[slot].frame;
}

void pymm_efvi_rxref_release(void* h, uint32_t pkt_id) {
  struct fake* f = h;
  uint32_t slot = pkt_id - 1000;
  if (!f->x3 || slot >= MAX_REFS || !f->refs[slot].live) {
    f->bad_releases++;
    return;
  }
  f->refs[slot].live = 0;
  f->refs_outstanding--;
  f->releases++;
}

uint8_t* pymm_efvi_tx_buf(void* h, uint32_t id) {
  struct fake* f = h;
  if (id >= TX_BUFS) return NULL;
  return f->tx[id];
}

int pymm_efvi_tx_send(void* h, uint32_t id, uint32_t len) {
  struct fake* f = h;
  if (id >= TX_BUFS || len > BUF_SIZE) return -EINVAL;
  if (f->tx_queued >= f->tx_fifo) return -EAGAIN;
  for (uint32_t i = 0; i < f->tx_queued; i++)
    if (f->tx_queue[i] == id) {
      f->bad_ids++;
      return -EINVAL;
    }
  f->tx_queue[f->tx_queued++] = id;
  uint32_t s = f->sent_count % TX_BUFS;
  memcpy(f->sent[s], f->tx[id], len);
  f->sent_len[s] = len;
  f->sent_count++;
  return 0;
}

int pymm_efvi_tx_unbundle(void* h, const struct pymm_efvi_event* ev, uint32_t* ids, int max) {
  struct fake* f = h;
  if ((ev->type != PYMM_EFVI_EV_TX && ev->type != PYMM_EFVI_EV_TX_ERROR) || ev->raw[0] != 0x7478)
    return -EINVAL;
  uint32_t k = (uint32_t)ev->raw[1];
  if (k > f->tx_queued) k = f->tx_queued;
  if ((int)k > max) k = (uint32_t)max;
  for (uint32_t i = 0; i < k; i++) ids[i] = f->tx_queue[i];
  memmove(f->tx_queue, f->tx_queue + k, (f->tx_queued - k) * sizeof(uint32_t));
  f->tx_queued -= k;
  return (int)k;
}

/* ---- test controls ---- */

static int push(struct fake* f, uint32_t kind, const uint8_t* frame, uint32_t len, uint32_t discard,
                int32_t ts_status, int64_t sec, uint32_t nsec, uint32_t flags) {
  if (f->pend_count == MAX_PENDING || len > BUF_SIZE - PREFIX) return -ENOSPC;
  struct pending* p = &f->pend[(f->pend_head + f->pend_count) % MAX_PENDING];
  p->kind = kind;
  p->len = len;
  p->discard_type = discard;
  p->ts_status = ts_status;
  p->ts_sec = sec;
  p->ts_nsec = nsec;
  p->ts_flags = flags;
  if (len) memcpy(p->frame, frame, len);
  f->pend_count++;
  return 0;
}

int pymm_fake_inject_rx(void* h, const uint8_t* frame, uint32_t len, int32_t ts_status,
                        int64_t sec, uint32_t nsec, uint32_t flags) {
  return push(h, PYMM_EFVI_EV_RX, frame, len, 0, ts_status, sec, nsec, flags);
}

int pymm_fake_inject_discard(void* h, const uint8_t* frame, uint32_t len, uint32_t discard_type) {
  return push(h, PYMM_EFVI_EV_RX_DISCARD, frame, len, discard_type, -ENODATA, 0, 0, 0);
}

int pymm_fake_inject_overflow(void* h) { return push(h, PYMM_EFVI_EV_OFLOW, NULL, 0, 0, 0, 0, 0, 0); }

void pymm_fake_set_tx(void* h, uint32_t bundle, uint32_t fifo) {
  struct fake* f = h;
  f->tx_bundle = bundle ? bundle : 1;
  f->tx_fifo = fifo > TX_BUFS ? TX_BUFS : fifo;
}

void pymm_fake_counters(void* h, struct pymm_fake_counters* out) {
  struct fake* f = h;
  out->small_batches_ignored = f->small_batches_ignored;
  out->double_posts = f->double_posts;
  out->bad_releases = f->bad_releases;
  out->bad_ids = f->bad_ids;
  out->no_desc_drops = f->no_desc_drops;
  out->refs_outstanding = f->refs_outstanding;
  out->releases = f->releases;
  out->posted_now = f->post_count;
  out->udp_filters = f->udp_filters;
  out->tcp_filters = f->tcp_filters;
  out->sent_count = f->sent_count;
}

/* Copies sent frame i (0-based, of the last TX_BUFS) into out; returns its length. */
int pymm_fake_sent_frame(void* h, uint32_t i, uint8_t* out, uint32_t max) {
  struct fake* f = h;
  if (i >= f->sent_count || f->sent_count - i > TX_BUFS) return -ENOENT;
  uint32_t s = i % TX_BUFS;
  uint32_t n = f->sent_len[s] < max ? f->sent_len[s] : max;
  memcpy(out, f->sent[s], n);
  return (int)n;
}
