/* pymm's narrow, stable interface to Solarflare/AMD ef_vi (docs/ops/ef_vi.md).
 *
 * ef_vi's fast-path calls are macros and inlines over struct internals whose ABI moves between
 * Onload releases, so Rust never calls libciul directly: a small shim compiled against the host's
 * Onload headers (efvi_shim.c, `make efvi-shim`) exports exactly these functions, and the Rust
 * backend (native/src/net/efvi.rs) loads it at run time. A fake implementing the same interface
 * (fake_efvi.c) drives the backend in CI.
 *
 * Conventions: functions returning int return >= 0 on success and -errno on failure. A handle is
 * used by one thread (ef_vi calls are not thread-safe). Buffer ids are the shim's indices into its
 * registered RX/TX buffer arrays; the Rust side owns the bookkeeping of which are posted / free.
 */
#ifndef PYMM_EFVI_H
#define PYMM_EFVI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PYMM_EFVI_ABI_VERSION 1

/* Capability bits (pymm_efvi_caps.caps). */
#define PYMM_EFVI_CAP_HW_RX_TS (1u << 0)   /* RX timestamps in the RX prefix */
#define PYMM_EFVI_CAP_HW_TX_TS (1u << 1)   /* TX timestamps in completions */
#define PYMM_EFVI_CAP_CTPIO (1u << 2)      /* cut-through PIO send */
#define PYMM_EFVI_CAP_RX_REF (1u << 3)     /* X3 (EFCT): packet references, no posted RX buffers */
#define PYMM_EFVI_CAP_UDP_FILTER (1u << 4) /* ip4-local UDP filters (multicast group) */
#define PYMM_EFVI_CAP_TCP_FILTER (1u << 5) /* ip4-full TCP filters */

/* pymm_efvi_open flags. */
#define PYMM_EFVI_OPEN_RX_TIMESTAMPS (1u << 0)
#define PYMM_EFVI_OPEN_TX_TIMESTAMPS (1u << 1)

/* Event types (pymm_efvi_event.type). */
#define PYMM_EFVI_EV_RX 1               /* id = RX buffer id; bytes include the RX prefix */
#define PYMM_EFVI_EV_RX_DISCARD 2       /* id = RX buffer id (still consumed); flags = discard type */
#define PYMM_EFVI_EV_TX 3               /* a bundle of completions: expand with pymm_efvi_tx_unbundle */
#define PYMM_EFVI_EV_TX_ERROR 4         /* as TX, but the NIC reported an error */
#define PYMM_EFVI_EV_OFLOW 5            /* event queue overflow: the VI is in an undetermined state */
#define PYMM_EFVI_EV_RX_REF 6           /* X3: id = packet id; bytes = frame length (no prefix) */
#define PYMM_EFVI_EV_RX_REF_DISCARD 7   /* X3: id = packet id, to release; flags = discard type */
#define PYMM_EFVI_EV_RX_NO_DESC_TRUNC 8 /* a packet arrived with no RX buffer posted (dropped) */
#define PYMM_EFVI_EV_OTHER 9            /* software / reset / unhandled: counted */

/* Timestamp sync flags (pymm_efvi_ts.flags). */
#define PYMM_EFVI_TS_CLOCK_SET (1u << 0)  /* the NIC clock has been set */
#define PYMM_EFVI_TS_IN_SYNC (1u << 1)    /* the NIC clock is synchronised (PTP) */

struct pymm_efvi_caps {
  uint32_t abi;            /* PYMM_EFVI_ABI_VERSION the shim was built for */
  uint32_t caps;           /* PYMM_EFVI_CAP_* */
  uint32_t rx_prefix_len;  /* bytes before the frame in an RX buffer */
  uint32_t rx_buf_count;   /* RX buffers (ids 0..count) */
  uint32_t rx_buf_size;
  uint32_t tx_buf_count;   /* TX buffers (ids 0..count) */
  uint32_t tx_buf_size;
  uint32_t arch;           /* ef_vi architecture (informational) */
};

struct pymm_efvi_event {
  uint32_t type;   /* PYMM_EFVI_EV_* */
  uint32_t id;     /* buffer id or packet id (see the type) */
  uint32_t bytes;  /* see the type */
  uint32_t flags;  /* discard type for discards */
  uint64_t raw[2]; /* shim-private copy of the driver's event, for pymm_efvi_tx_unbundle */
};

struct pymm_efvi_ts {
  int64_t sec;
  uint32_t nsec;
  uint32_t flags; /* PYMM_EFVI_TS_* */
};

int pymm_efvi_abi_version(void);
/* Driver open + capability query for an interface, without allocating a VI: -ENOENT when there is
 * no /dev/sfc_char (no Onload drivers), -ENODEV for an unknown or non-Solarflare interface. */
int pymm_efvi_query(const char* ifname, struct pymm_efvi_caps* out);
int pymm_efvi_open(const char* ifname, uint32_t flags, void** out);
void pymm_efvi_close(void* h);
int pymm_efvi_info(void* h, struct pymm_efvi_caps* out);
/* Filters take network-order addresses and ports. UDP: the "local" address is the group. */
int pymm_efvi_filter_udp(void* h, uint32_t daddr_be, uint16_t dport_be);
int pymm_efvi_filter_tcp(void* h, uint32_t laddr_be, uint16_t lport_be, uint32_t raddr_be,
                         uint16_t rport_be);
/* RX buffer id -> start of the buffer (the RX prefix comes first). */
const uint8_t* pymm_efvi_rx_buf(void* h, uint32_t id);
/* Posts n RX buffers; returns how many were posted (ef_vi ignores batches smaller than 8). */
int pymm_efvi_rx_post(void* h, const uint32_t* ids, uint32_t n);
/* Polls up to max events (max >= 2). */
int pymm_efvi_poll(void* h, struct pymm_efvi_event* evs, int max);
/* Hardware timestamp of the packet whose first buffer (EF10) or packet pointer (X3) is pkt; call
 * after its RX event and before the next poll. 0, -ENOMSG (clock not yet synced), -ENODATA (no
 * stamp), -EL2NSYNC (sync lost). */
int pymm_efvi_rx_timestamp(void* h, const uint8_t* pkt, struct pymm_efvi_ts* out);
/* X3: the frame of packet id, and its release (release every one promptly). */
const uint8_t* pymm_efvi_rxref_get(void* h, uint32_t pkt_id);
void pymm_efvi_rxref_release(void* h, uint32_t pkt_id);
/* TX: the registered buffer of id, where the caller writes a whole Ethernet frame; send it. Returns
 * 0, or -EAGAIN when the TX queue / CTPIO FIFO has no room (id stays the caller's). */
uint8_t* pymm_efvi_tx_buf(void* h, uint32_t id);
int pymm_efvi_tx_send(void* h, uint32_t id, uint32_t len);
/* Expands a TX / TX_ERROR event into the completed TX buffer ids, in submission order. */
int pymm_efvi_tx_unbundle(void* h, const struct pymm_efvi_event* ev, uint32_t* ids, int max);

#ifdef __cplusplus
}
#endif
#endif
