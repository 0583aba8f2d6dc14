/* pymm's ef_vi shim: the narrow interface of pymm_efvi.h over Solarflare/AMD ef_vi (libciul).
 *
 * Built only on a host with an Onload source tree (opt in: `make efvi-shim ONLOAD_DIR=...`,
 * docs/ops/ef_vi.md), linked statically against libciul1.a because libciul's ABI moves between
 * releases. The Rust backend (native/src/net/efvi.rs) loads the result at run time; all policy
 * (buffer bookkeeping, refill batching, counters, fallback) lives there and is tested in CI against
 * fake_efvi.c. This file only translates calls and events.
 *
 * Memory: one registered region holding rx_n RX buffers then tx_n TX buffers of BUF_SIZE bytes
 * each; buffer id i of a kind is at a fixed offset, so ids map to DMA addresses without tables.
 * X3 (EFCT) VIs have no RX buffers: packets arrive as references (RX_REF) into shared superbufs.
 *
 * Not supported (reported, not hidden): RX event merging (RX_MULTI, needed on SFN8000/X2 without an
 * Onload activation key) and jumbo frames spanning buffers (CONT/SOP): both surface as
 * PYMM_EFVI_EV_OTHER and are counted by the Rust side.
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <etherfabric/capabilities.h>
#include <etherfabric/ef_vi.h>
#include <etherfabric/efct_vi.h>
#include <etherfabric/memreg.h>
#include <etherfabric/pd.h>
#include <etherfabric/vi.h>

#include "pymm_efvi.h"

#define BUF_SIZE 2048
#define RX_BUFS 512
#define TX_BUFS 256
#define POLL_MAX 64

_Static_assert(sizeof(ef_event) <= 2 * sizeof(uint64_t), "ef_event fits pymm_efvi_event.raw");

struct shim {
  ef_driver_handle dh;
  ef_pd pd;
  ef_vi vi;
  ef_memreg mr;
  void* mem;
  size_t mem_len;
  uint32_t rx_n, tx_n;
  int x3;
  int ifindex;
  uint32_t caps;
};

int pymm_efvi_abi_version(void) { return PYMM_EFVI_ABI_VERSION; }

static unsigned long cap(ef_driver_handle dh, int ifindex, enum ef_vi_capability c) {
  unsigned long v = 0;
  if (ef_vi_capabilities_get(dh, ifindex, c, &v) != 0) return 0;
  return v;
}

static uint32_t query_caps(ef_driver_handle dh, int ifindex) {
  uint32_t caps = 0;
  if (cap(dh, ifindex, EF_VI_CAP_HW_RX_TIMESTAMPING)) caps |= PYMM_EFVI_CAP_HW_RX_TS;
  if (cap(dh, ifindex, EF_VI_CAP_HW_TX_TIMESTAMPING)) caps |= PYMM_EFVI_CAP_HW_TX_TS;
  if (cap(dh, ifindex, EF_VI_CAP_CTPIO)) caps |= PYMM_EFVI_CAP_CTPIO;
  if (cap(dh, ifindex, EF_VI_CAP_RX_REF)) caps |= PYMM_EFVI_CAP_RX_REF;
  if (cap(dh, ifindex, EF_VI_CAP_RX_FILTER_TYPE_UDP_LOCAL)) caps |= PYMM_EFVI_CAP_UDP_FILTER;
  if (cap(dh, ifindex, EF_VI_CAP_RX_FILTER_TYPE_TCP_FULL)) caps |= PYMM_EFVI_CAP_TCP_FILTER;
  return caps;
}

int pymm_efvi_query(const char* ifname, struct pymm_efvi_caps* out) {
  ef_driver_handle dh;
  int ifindex = (int)if_nametoindex(ifname);
  if (ifindex == 0) return -ENODEV;
  int rc = ef_driver_open(&dh);
  if (rc < 0) return rc; /* -ENOENT without /dev/sfc_char */
  memset(out, 0, sizeof(*out));
  out->abi = PYMM_EFVI_ABI_VERSION;
  out->caps = query_caps(dh, ifindex);
  ef_driver_close(dh);
  if (out->caps == 0) return -ENODEV; /* not an sfc interface */
  out->rx_buf_size = BUF_SIZE;
  out->tx_buf_size = BUF_SIZE;
  out->rx_buf_count = (out->caps & PYMM_EFVI_CAP_RX_REF) ? 0 : RX_BUFS;
  out->tx_buf_count = TX_BUFS;
  return 0;
}

int pymm_efvi_open(const char* ifname, uint32_t flags, void** out) {
  struct shim* s = calloc(1, sizeof(*s));
  int rc;
  if (!s) return -ENOMEM;
  s->ifindex = (int)if_nametoindex(ifname);
  if (s->ifindex == 0) {
    free(s);
    return -ENODEV;
  }
  if ((rc = ef_driver_open(&s->dh)) < 0) {
    free(s);
    return rc;
  }
  s->caps = query_caps(s->dh, s->ifindex);
  s->x3 = (s->caps & PYMM_EFVI_CAP_RX_REF) != 0;
  if ((rc = ef_pd_alloc_by_name(&s->pd, s->dh, ifname, EF_PD_DEFAULT)) < 0) goto fail_driver;
  enum ef_vi_flags vf = EF_VI_FLAGS_DEFAULT;
  if (flags & PYMM_EFVI_OPEN_RX_TIMESTAMPS) vf |= EF_VI_RX_TIMESTAMPS;
  if (flags & PYMM_EFVI_OPEN_TX_TIMESTAMPS) vf |= EF_VI_TX_TIMESTAMPS;
  s->rx_n = s->x3 ? 0 : RX_BUFS;
  s->tx_n = TX_BUFS;
  rc = ef_vi_alloc_from_pd(&s->vi, s->dh, &s->pd, s->dh, -1, s->x3 ? -1 : (int)s->rx_n, (int)s->tx_n,
                           NULL, -1, vf);
  if (rc < 0) goto fail_pd;
  s->mem_len = (size_t)(s->rx_n + s->tx_n) * BUF_SIZE;
  s->mem_len = (s->mem_len + (1u << 21) - 1) & ~(size_t)((1u << 21) - 1);
  s->mem = mmap(NULL, s->mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (s->mem == MAP_FAILED) {
    rc = -errno;
    goto fail_vi;
  }
  if ((rc = ef_memreg_alloc(&s->mr, s->dh, &s->pd, s->dh, s->mem, s->mem_len)) < 0) goto fail_mem;
  *out = s;
  return 0;
fail_mem:
  munmap(s->mem, s->mem_len);
fail_vi:
  ef_vi_free(&s->vi, s->dh);
fail_pd:
  ef_pd_free(&s->pd, s->dh);
fail_driver:
  ef_driver_close(s->dh);
  free(s);
  return rc;
}

void pymm_efvi_close(void* h) {
  struct shim* s = h;
  if (!s) return;
  ef_memreg_free(&s->mr, s->dh);
  ef_vi_free(&s->vi, s->dh);
  ef_pd_free(&s->pd, s->dh);
  ef_driver_close(s->dh);
  munmap(s->mem, s->mem_len);
  free(s);
}

int pymm_efvi_info(void* h, struct pymm_efvi_caps* out) {
  struct shim* s = h;
  memset(out, 0, sizeof(*out));
  out->abi = PYMM_EFVI_ABI_VERSION;
  out->caps = s->caps;
  out->rx_prefix_len = s->x3 ? 0 : (uint32_t)ef_vi_receive_prefix_len(&s->vi);
  out->rx_buf_count = s->rx_n;
  out->rx_buf_size = BUF_SIZE;
  out->tx_buf_count = s->tx_n;
  out->tx_buf_size = BUF_SIZE;
  out->arch = (uint32_t)s->vi.nic_type.arch;
  return 0;
}

int pymm_efvi_filter_udp(void* h, uint32_t daddr_be, uint16_t dport_be) {
  struct shim* s = h;
  ef_filter_spec fs;
  ef_filter_spec_init(&fs, EF_FILTER_FLAG_NONE);
  int rc = ef_filter_spec_set_ip4_local(&fs, IPPROTO_UDP, daddr_be, dport_be);
  if (rc < 0) return rc;
  return ef_vi_filter_add(&s->vi, s->dh, &fs, NULL);
}

int pymm_efvi_filter_tcp(void* h, uint32_t laddr_be, uint16_t lport_be, uint32_t raddr_be,
                         uint16_t rport_be) {
  struct shim* s = h;
  ef_filter_spec fs;
  ef_filter_spec_init(&fs, EF_FILTER_FLAG_NONE);
  int rc = ef_filter_spec_set_ip4_full(&fs, IPPROTO_TCP, laddr_be, lport_be, raddr_be, rport_be);
  if (rc < 0) return rc;
  return ef_vi_filter_add(&s->vi, s->dh, &fs, NULL);
}

const uint8_t* pymm_efvi_rx_buf(void* h, uint32_t id) {
  struct shim* s = h;
  if (id >= s->rx_n) return NULL;
  return (const uint8_t*)s->mem + (size_t)id * BUF_SIZE;
}

int pymm_efvi_rx_post(void* h, const uint32_t* ids, uint32_t n) {
  struct shim* s = h;
  uint32_t done = 0;
  if (s->x3) return -EOPNOTSUPP;
  if (n < 8) return 0; /* ef_vi ignores smaller batches */
  for (uint32_t i = 0; i < n; i++) {
    if (ids[i] >= s->rx_n) continue;
    if (ef_vi_receive_init(&s->vi, ef_memreg_dma_addr(&s->mr, (size_t)ids[i] * BUF_SIZE), ids[i]) < 0)
      break;
    done++;
  }
  if (done) ef_vi_receive_push(&s->vi);
  return (int)done;
}

int pymm_efvi_poll(void* h, struct pymm_efvi_event* evs, int max) {
  struct shim* s = h;
  ef_event raw[POLL_MAX];
  if (max < EF_VI_EVENT_POLL_MIN_EVS) return -EINVAL;
  if (max > POLL_MAX) max = POLL_MAX;
  int n = ef_eventq_poll(&s->vi, raw, max);
  for (int i = 0; i < n; i++) {
    struct pymm_efvi_event* e = &evs[i];
    memset(e, 0, sizeof(*e));
    memcpy(e->raw, &raw[i], sizeof(ef_event));
    switch (EF_EVENT_TYPE(raw[i])) {
      case EF_EVENT_TYPE_RX:
        if (!EF_EVENT_RX_SOP(raw[i]) || EF_EVENT_RX_CONT(raw[i])) {
          e->type = PYMM_EFVI_EV_RX_DISCARD; /* jumbo: not supported, buffer still consumed */
          e->id = EF_EVENT_RX_RQ_ID(raw[i]);
          e->flags = 0xff;
          break;
        }
        e->type = PYMM_EFVI_EV_RX;
        e->id = EF_EVENT_RX_RQ_ID(raw[i]);
        e->bytes = EF_EVENT_RX_BYTES(raw[i]);
        break;
      case EF_EVENT_TYPE_RX_DISCARD:
        e->type = PYMM_EFVI_EV_RX_DISCARD;
        e->id = EF_EVENT_RX_DISCARD_RQ_ID(raw[i]);
        e->flags = EF_EVENT_RX_DISCARD_TYPE(raw[i]);
        break;
      case EF_EVENT_TYPE_RX_NO_DESC_TRUNC:
        e->type = PYMM_EFVI_EV_RX_NO_DESC_TRUNC;
        break;
      case EF_EVENT_TYPE_RX_REF:
        e->type = PYMM_EFVI_EV_RX_REF;
        e->id = raw[i].rx_ref.pkt_id;
        e->bytes = raw[i].rx_ref.len;
        break;
      case EF_EVENT_TYPE_RX_REF_DISCARD:
        e->type = PYMM_EFVI_EV_RX_REF_DISCARD;
        e->id = raw[i].rx_ref_discard.pkt_id;
        e->bytes = raw[i].rx_ref_discard.len;
        e->flags = raw[i].rx_ref_discard.flags;
        break;
      case EF_EVENT_TYPE_TX:
        e->type = PYMM_EFVI_EV_TX;
        break;
      case EF_EVENT_TYPE_TX_ERROR:
        e->type = PYMM_EFVI_EV_TX_ERROR;
        break;
      case EF_EVENT_TYPE_OFLOW:
        e->type = PYMM_EFVI_EV_OFLOW;
        break;
      default:
        e->type = PYMM_EFVI_EV_OTHER;
        break;
    }
  }
  return n;
}

int pymm_efvi_rx_timestamp(void* h, const uint8_t* pkt, struct pymm_efvi_ts* out) {
  struct shim* s = h;
  ef_precisetime ts;
  int rc = ef_vi_receive_get_precise_timestamp(&s->vi, pkt, &ts);
  if (rc != 0) return rc < 0 ? rc : -rc;
  out->sec = ts.tv_sec;
  out->nsec = ts.tv_nsec;
  out->flags = ((ts.tv_flags & EF_VI_SYNC_FLAG_CLOCK_SET) ? PYMM_EFVI_TS_CLOCK_SET : 0) |
               ((ts.tv_flags & EF_VI_SYNC_FLAG_CLOCK_IN_SYNC) ? PYMM_EFVI_TS_IN_SYNC : 0);
  return 0;
}

const uint8_t* pymm_efvi_rxref_get(void* h, uint32_t pkt_id) {
  struct shim* s = h;
  if (!s->x3) return NULL;
  return (const uint8_t*)efct_vi_rxpkt_get(&s->vi, pkt_id);
}

void pymm_efvi_rxref_release(void* h, uint32_t pkt_id) {
  struct shim* s = h;
  if (s->x3) efct_vi_rxpkt_release(&s->vi, pkt_id);
}

uint8_t* pymm_efvi_tx_buf(void* h, uint32_t id) {
  struct shim* s = h;
  if (id >= s->tx_n) return NULL;
  return (uint8_t*)s->mem + (size_t)(s->rx_n + id) * BUF_SIZE;
}

int pymm_efvi_tx_send(void* h, uint32_t id, uint32_t len) {
  struct shim* s = h;
  if (id >= s->tx_n || len > BUF_SIZE) return -EINVAL;
  size_t off = (size_t)(s->rx_n + id) * BUF_SIZE;
  if (s->x3) {
    /* X3 is CTPIO-only; the fallback call checks for failure and assigns the dma_id. */
    if (ef_vi_transmit_space_bytes(&s->vi) < (int)len) return -EAGAIN;
    ef_vi_transmit_ctpio(&s->vi, (uint8_t*)s->mem + off, len, EF_VI_CTPIO_CT_THRESHOLD_SNF);
    return ef_vi_transmit_ctpio_fallback(&s->vi, ef_memreg_dma_addr(&s->mr, off), len, id);
  }
  return ef_vi_transmit(&s->vi, ef_memreg_dma_addr(&s->mr, off), (int)len, id);
}

int pymm_efvi_tx_unbundle(void* h, const struct pymm_efvi_event* ev, uint32_t* ids, int max) {
  struct shim* s = h;
  ef_event raw;
  ef_request_id req[EF_VI_TRANSMIT_BATCH];
  memcpy(&raw, ev->raw, sizeof(ef_event));
  int n = ef_vi_transmit_unbundle(&s->vi, &raw, req);
  if (n > max) n = max;
  for (int i = 0; i < n; i++) ids[i] = (uint32_t)req[i];
  return n;
}
