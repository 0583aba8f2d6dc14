//! Ethernet II / IPv4 / UDP parsing and building for the kernel-bypass backends (AF_XDP, ef_vi),
//! which see whole frames instead of datagrams.
//!
//! [`parse_udp`] checks a frame against a [`UdpFilter`] (destination port, optional destination
//! address/group) and returns the UDP payload borrowed from the frame, or why it was rejected. It is
//! safe Rust over a byte slice, allocates nothing and never panics on any input (fuzz target
//! `native/fuzz/fuzz_targets/udp_frame.rs`). [`build_udp`] writes a frame for the bypass senders.

use std::net::Ipv4Addr;

/// Ethernet II header length (no VLAN tag).
pub const ETH_LEN: usize = 14;
/// 802.1Q tag length.
const VLAN_LEN: usize = 4;
/// Minimum IPv4 header length.
pub const IPV4_MIN_LEN: usize = 20;
/// UDP header length.
pub const UDP_LEN: usize = 8;
/// Header bytes of an untagged Ethernet/IPv4(no options)/UDP frame.
pub const HEADERS_LEN: usize = ETH_LEN + IPV4_MIN_LEN + UDP_LEN;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_VLAN: u16 = 0x8100;
const PROTO_UDP: u8 = 17;

/// Which datagrams a bypass receiver keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpFilter {
    /// Destination UDP port.
    pub port: u16,
    /// Destination IPv4 address (the multicast group, or our unicast address); `None` accepts any.
    pub dst: Option<Ipv4Addr>,
}

/// Why a frame was not delivered (each is counted by the backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Shorter than its headers claim, or an inconsistent length field.
    Malformed,
    /// Not IPv4 (ARP, IPv6, LLDP, ...).
    NotIpv4,
    /// IPv4 but not UDP.
    NotUdp,
    /// A fragment (the filters, like the NIC's, do not reassemble).
    Fragment,
    /// UDP, but to another port or address.
    Filtered,
}

/// A parsed datagram: the payload borrowed from the frame and its addressing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// Source IPv4 address.
    pub src: Ipv4Addr,
    /// Destination IPv4 address.
    pub dst: Ipv4Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The UDP payload (exactly the UDP length field's worth; Ethernet padding excluded).
    pub payload: &'a [u8],
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn ip4(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let s = b.get(at..at + 4)?;
    Some(Ipv4Addr::new(s[0], s[1], s[2], s[3]))
}

/// Parses an Ethernet II frame (optionally one 802.1Q tag) carrying IPv4/UDP and applies `filter`.
#[inline]
pub fn parse_udp<'a>(frame: &'a [u8], filter: &UdpFilter) -> Result<UdpDatagram<'a>, Reject> {
    let mut l3 = ETH_LEN;
    let mut ethertype = be16(frame, 12).ok_or(Reject::Malformed)?;
    if ethertype == ETHERTYPE_VLAN {
        ethertype = be16(frame, 16).ok_or(Reject::Malformed)?;
        l3 += VLAN_LEN;
    }
    if ethertype != ETHERTYPE_IPV4 {
        return Err(Reject::NotIpv4);
    }
    let vihl = *frame.get(l3).ok_or(Reject::Malformed)?;
    if vihl >> 4 != 4 {
        return Err(Reject::Malformed);
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    if ihl < IPV4_MIN_LEN || frame.len() < l3 + ihl {
        return Err(Reject::Malformed);
    }
    let total = usize::from(be16(frame, l3 + 2).ok_or(Reject::Malformed)?);
    if total < ihl || frame.len() < l3 + total {
        return Err(Reject::Malformed);
    }
    if frame[l3 + 9] != PROTO_UDP {
        return Err(Reject::NotUdp);
    }
    let frag = be16(frame, l3 + 6).ok_or(Reject::Malformed)?;
    // More-fragments flag or a non-zero offset.
    if frag & 0x3fff != 0 {
        return Err(Reject::Fragment);
    }
    let dst = ip4(frame, l3 + 16).ok_or(Reject::Malformed)?;
    let l4 = l3 + ihl;
    if total < ihl + UDP_LEN {
        return Err(Reject::Malformed);
    }
    let dst_port = be16(frame, l4 + 2).ok_or(Reject::Malformed)?;
    if dst_port != filter.port || filter.dst.is_some_and(|want| want != dst) {
        return Err(Reject::Filtered);
    }
    let udp_len = usize::from(be16(frame, l4 + 4).ok_or(Reject::Malformed)?);
    if udp_len < UDP_LEN || udp_len > total - ihl {
        return Err(Reject::Malformed);
    }
    Ok(UdpDatagram {
        src: ip4(frame, l3 + 12).ok_or(Reject::Malformed)?,
        dst,
        src_port: be16(frame, l4).ok_or(Reject::Malformed)?,
        dst_port,
        payload: &frame[l4 + UDP_LEN..l4 + udp_len],
    })
}

/// Addressing of the frames a bypass sender writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpEndpoints {
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Destination MAC (for a multicast group: `01:00:5e` + the group's low 23 bits, see
    /// [`multicast_mac`]).
    pub dst_mac: [u8; 6],
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address or group.
    pub dst: Ipv4Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// IPv4 TTL.
    pub ttl: u8,
}

/// The Ethernet address a multicast IPv4 group maps to (RFC 1112 §6.4).
pub fn multicast_mac(group: Ipv4Addr) -> [u8; 6] {
    let o = group.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

/// The IPv4 header checksum (RFC 791) over `hdr` with its checksum field zero.
fn ipv4_checksum(hdr: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in hdr.chunks(2) {
        let hi = u32::from(pair[0]) << 8;
        let lo = pair.get(1).map_or(0, |b| u32::from(*b));
        sum += hi | lo;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes an Ethernet/IPv4/UDP frame carrying `payload` into `out`; returns its length, or `None`
/// when `out` is too small or the payload exceeds an IPv4 datagram. The UDP checksum is 0 ("none",
/// allowed for IPv4); the IPv4 header checksum is computed.
pub fn build_udp(out: &mut [u8], ep: &UdpEndpoints, ip_id: u16, payload: &[u8]) -> Option<usize> {
    let len = HEADERS_LEN + payload.len();
    let ip_total = u16::try_from(IPV4_MIN_LEN + UDP_LEN + payload.len()).ok()?;
    let out = out.get_mut(..len)?;
    out[0..6].copy_from_slice(&ep.dst_mac);
    out[6..12].copy_from_slice(&ep.src_mac);
    out[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    let ip = &mut out[ETH_LEN..ETH_LEN + IPV4_MIN_LEN];
    ip[0] = 0x45;
    ip[1] = 0;
    ip[2..4].copy_from_slice(&ip_total.to_be_bytes());
    ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
    ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // don't fragment
    ip[8] = ep.ttl;
    ip[9] = PROTO_UDP;
    ip[10..12].copy_from_slice(&[0, 0]);
    ip[12..16].copy_from_slice(&ep.src.octets());
    ip[16..20].copy_from_slice(&ep.dst.octets());
    let csum = ipv4_checksum(ip);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    let udp = &mut out[ETH_LEN + IPV4_MIN_LEN..HEADERS_LEN];
    udp[0..2].copy_from_slice(&ep.src_port.to_be_bytes());
    udp[2..4].copy_from_slice(&ep.dst_port.to_be_bytes());
    udp[4..6].copy_from_slice(&(ip_total - IPV4_MIN_LEN as u16).to_be_bytes());
    udp[6..8].copy_from_slice(&[0, 0]);
    out[HEADERS_LEN..].copy_from_slice(payload);
    Some(len)
}

/// Fuzz entry (`native/fuzz/fuzz_targets/udp_frame.rs`): parses `data` as a frame under a filter
/// taken from its first bytes, checks the payload lies inside the frame and that a rebuilt frame
/// parses back to the same payload. Panics only on a real bug.
#[doc(hidden)]
pub fn fuzz_udp_frame(data: &[u8]) {
    let (port, dst) = match data {
        [a, b, c, d, e, f, ..] => (
            u16::from_be_bytes([*a, *b]),
            Some(Ipv4Addr::new(*c, *d, *e, *f)),
        ),
        _ => (0, None),
    };
    for filter in [UdpFilter { port, dst }, UdpFilter { port, dst: None }] {
        let frame = data.get(6..).unwrap_or_default();
        if let Ok(d) = parse_udp(frame, &filter) {
            let start = d.payload.as_ptr() as usize - frame.as_ptr() as usize;
            assert!(start + d.payload.len() <= frame.len());
            let ep = UdpEndpoints {
                src_mac: [0; 6],
                dst_mac: [0; 6],
                src: d.src,
                dst: d.dst,
                src_port: d.src_port,
                dst_port: d.dst_port,
                ttl: 1,
            };
            let mut out = [0u8; 70_000];
            let n =
                build_udp(&mut out, &ep, 0, d.payload).expect("a parsed payload fits a datagram");
            assert_eq!(
                parse_udp(&out[..n], &filter).map(|x| x.payload),
                Ok(d.payload)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep() -> UdpEndpoints {
        let group = Ipv4Addr::new(239, 1, 2, 3);
        UdpEndpoints {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: multicast_mac(group),
            src: Ipv4Addr::new(10, 9, 0, 1),
            dst: group,
            src_port: 40000,
            dst_port: 26477,
            ttl: 1,
        }
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 2048];
        let n = build_udp(&mut b, &ep(), 7, payload).unwrap();
        b.truncate(n);
        b
    }

    #[test]
    fn round_trip_and_filters() {
        let f = frame(b"hello");
        let want = UdpFilter {
            port: 26477,
            dst: Some(Ipv4Addr::new(239, 1, 2, 3)),
        };
        let d = parse_udp(&f, &want).unwrap();
        assert_eq!(d.payload, b"hello");
        assert_eq!((d.src_port, d.dst_port), (40000, 26477));
        assert_eq!(d.src, Ipv4Addr::new(10, 9, 0, 1));
        assert_eq!(multicast_mac(d.dst), [0x01, 0x00, 0x5e, 1, 2, 3]);
        assert_eq!(
            ipv4_checksum(&f[ETH_LEN..ETH_LEN + 20]),
            0,
            "checksum verifies"
        );
        let other_port = UdpFilter { port: 1, dst: None };
        assert_eq!(parse_udp(&f, &other_port), Err(Reject::Filtered));
        let other_group = UdpFilter {
            port: 26477,
            dst: Some(Ipv4Addr::new(239, 1, 2, 4)),
        };
        assert_eq!(parse_udp(&f, &other_group), Err(Reject::Filtered));
        // Ethernet padding after the datagram is not payload.
        let mut padded = f.clone();
        padded.extend_from_slice(&[0xee; 20]);
        assert_eq!(parse_udp(&padded, &want).unwrap().payload, b"hello");
    }

    #[test]
    fn vlan_options_fragments_and_garbage() {
        let f = frame(b"abc");
        let filter = UdpFilter {
            port: 26477,
            dst: None,
        };
        let mut tagged = f[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        tagged.extend_from_slice(&f[12..]);
        assert_eq!(parse_udp(&tagged, &filter).unwrap().payload, b"abc");
        // IHL 6: one option word; lengths adjusted.
        let mut opt = f[..ETH_LEN + 20].to_vec();
        opt.extend_from_slice(&[1, 1, 1, 1]);
        opt.extend_from_slice(&f[ETH_LEN + 20..]);
        opt[ETH_LEN] = 0x46;
        let total = u16::from_be_bytes([opt[16], opt[17]]) + 4;
        opt[16..18].copy_from_slice(&total.to_be_bytes());
        assert_eq!(parse_udp(&opt, &filter).unwrap().payload, b"abc");
        let mut frag = f.clone();
        frag[ETH_LEN + 6] = 0x20; // more fragments
        assert_eq!(parse_udp(&frag, &filter), Err(Reject::Fragment));
        let mut tcp = f.clone();
        tcp[ETH_LEN + 9] = 6;
        assert_eq!(parse_udp(&tcp, &filter), Err(Reject::NotUdp));
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(parse_udp(&arp, &filter), Err(Reject::NotIpv4));
        for cut in 0..f.len() {
            assert!(parse_udp(&f[..cut], &filter).is_err(), "cut at {cut}");
        }
        let mut long_udp = f.clone();
        long_udp[ETH_LEN + 20 + 4] = 0xff;
        assert_eq!(parse_udp(&long_udp, &filter), Err(Reject::Malformed));
    }
}
