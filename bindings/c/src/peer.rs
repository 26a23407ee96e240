//! `dipsea_peer` and `dipsea_peer_list`: peer addresses as plain structs, so that C
//! callers read them without parsing text.

use std::ffi::c_char;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::{dipsea_status, Failure};
use crate::ffi::{arg, boundary, out, write_c_string};

/// dipsea_peer.family of an IPv4 address: `ip[0..4]` holds it, the rest is 0.
pub const DIPSEA_PEER_IPV4: u8 = 4;
/// dipsea_peer.family of an IPv6 address: `ip` holds all 16 bytes.
pub const DIPSEA_PEER_IPV6: u8 = 6;

/// Bytes enough for any address dipsea_peer_to_string writes (`"[v6]:port"` and a
/// NUL).
pub const DIPSEA_PEER_STRING_SIZE: usize = 48;

/// One peer's address: an IP address and a port, by value.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct dipsea_peer {
    /// DIPSEA_PEER_IPV4 or DIPSEA_PEER_IPV6.
    pub family: u8,
    /// The address in network byte order: 4 bytes then zeros for IPv4, 16 for IPv6.
    pub ip: [u8; 16],
    /// The port, in host byte order.
    pub port: u16,
}

impl From<SocketAddr> for dipsea_peer {
    fn from(addr: SocketAddr) -> dipsea_peer {
        let mut ip = [0u8; 16];
        let family = match addr.ip() {
            IpAddr::V4(v4) => {
                ip[..4].copy_from_slice(&v4.octets());
                DIPSEA_PEER_IPV4
            }
            IpAddr::V6(v6) => {
                ip = v6.octets();
                DIPSEA_PEER_IPV6
            }
        };
        dipsea_peer {
            family,
            ip,
            port: addr.port(),
        }
    }
}

/// The socket address of a peer struct; an unknown family is DIPSEA_BAD_INPUT.
fn addr_of(peer: &dipsea_peer) -> Result<SocketAddr, Failure> {
    let ip = match peer.family {
        DIPSEA_PEER_IPV4 => {
            let [a, b, c, d, ..] = peer.ip;
            IpAddr::V4(Ipv4Addr::new(a, b, c, d))
        }
        DIPSEA_PEER_IPV6 => IpAddr::V6(Ipv6Addr::from(peer.ip)),
        other => return Err(Failure::invalid(format!("unknown peer family {other}"))),
    };
    Ok(SocketAddr::new(ip, peer.port))
}

/// Peers the library allocated for you (dipsea_node_get_peers): `count` structs at
/// `peers`.
///
/// Ownership: yours once a function writes it; release it with
/// dipsea_peer_list_free, exactly once. A list with `peers == NULL` is empty and
/// needs no freeing.
#[repr(C)]
#[derive(Debug)]
pub struct dipsea_peer_list {
    /// The peers; NULL when `count` is 0.
    pub peers: *mut dipsea_peer,
    /// How many peers `peers` holds.
    pub count: usize,
}

impl dipsea_peer_list {
    /// Moves the addresses into a library allocation.
    pub(crate) fn from_addrs(addrs: &[SocketAddr]) -> dipsea_peer_list {
        if addrs.is_empty() {
            return dipsea_peer_list {
                peers: std::ptr::null_mut(),
                count: 0,
            };
        }
        let peers: Box<[dipsea_peer]> = addrs.iter().map(|a| dipsea_peer::from(*a)).collect();
        let count = peers.len();
        dipsea_peer_list {
            peers: Box::into_raw(peers).cast::<dipsea_peer>(),
            count,
        }
    }
}

/// The addresses as structs, for a callback that borrows them.
pub(crate) fn peers_of(addrs: &[SocketAddr]) -> Vec<dipsea_peer> {
    addrs.iter().map(|a| dipsea_peer::from(*a)).collect()
}

/// Releases the peers of a list the library filled, and resets it to `{NULL, 0}` so a
/// second free is harmless.
///
/// `list` NULL, or a list whose `peers` is NULL: a no-op returning DIPSEA_OK.
/// Threads: any thread, but not at the same time as another use of the same list.
/// Statuses: DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_peer_list_free(list: *mut dipsea_peer_list) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a list the caller owns, by this function's contract.
        let Some(list) = (unsafe { list.as_mut() }) else {
            return Ok(());
        };
        if !list.peers.is_null() {
            let whole = std::ptr::slice_from_raw_parts_mut(list.peers, list.count);
            // SAFETY: `peers` and `count` are as `from_addrs` made them (a boxed slice
            // of `count` peers), by this type's contract, and the caller frees it once.
            drop(unsafe { Box::from_raw(whole) });
        }
        list.peers = std::ptr::null_mut();
        list.count = 0;
        Ok(())
    })
}

/// Writes `*peer` as `"IP:PORT"` (`"[IP]:PORT"` for IPv6) and a NUL into `out_text`,
/// a buffer of `out_text_len` bytes (DIPSEA_PEER_STRING_SIZE is always enough).
///
/// Threads: any thread. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT;
/// DIPSEA_BAD_INPUT if `family` is neither DIPSEA_PEER_IPV4 nor DIPSEA_PEER_IPV6;
/// DIPSEA_BUFFER_TOO_SMALL (nothing written).
#[no_mangle]
pub unsafe extern "C" fn dipsea_peer_to_string(
    peer: *const dipsea_peer,
    out_text: *mut c_char,
    out_text_len: usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a valid peer, by this function's contract.
        let peer = unsafe { arg(peer, "peer") }?;
        let out_text = out(out_text, "out_text")?;
        let text = addr_of(peer)?.to_string();
        // SAFETY: non-NULL, `out_text_len` writable bytes by contract.
        unsafe { write_c_string(out_text, out_text_len, &text) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_through_the_struct() {
        for text in ["127.0.0.1:7000", "[2001:db8::1]:65535", "[::]:1"] {
            let addr: SocketAddr = text.parse().expect("address");
            let peer = dipsea_peer::from(addr);
            assert_eq!(addr_of(&peer).expect("known family"), addr);
            let mut buf = [0 as c_char; DIPSEA_PEER_STRING_SIZE];
            // SAFETY: a valid peer and a buffer of the length given.
            let status = unsafe { dipsea_peer_to_string(&peer, buf.as_mut_ptr(), buf.len()) };
            assert_eq!(status, dipsea_status::DIPSEA_OK);
            // SAFETY: the function wrote a NUL-terminated string.
            let back = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
            assert_eq!(back.to_str().expect("utf-8"), text);
        }
        let v4 = dipsea_peer::from("1.2.3.4:5".parse::<SocketAddr>().expect("address"));
        assert_eq!(
            (v4.family, &v4.ip[..6], v4.port),
            (4, &[1, 2, 3, 4, 0, 0][..], 5)
        );
    }

    #[test]
    fn lists_free_once_and_reset() {
        let addrs: Vec<SocketAddr> = vec!["10.0.0.1:1".parse().expect("address"); 3];
        let mut list = dipsea_peer_list::from_addrs(&addrs);
        assert_eq!(list.count, 3);
        // SAFETY: a list the library filled, freed twice (the second is a no-op).
        unsafe {
            assert_eq!(dipsea_peer_list_free(&mut list), dipsea_status::DIPSEA_OK);
            assert!(list.peers.is_null() && list.count == 0);
            assert_eq!(dipsea_peer_list_free(&mut list), dipsea_status::DIPSEA_OK);
            assert_eq!(
                dipsea_peer_list_free(std::ptr::null_mut()),
                dipsea_status::DIPSEA_OK
            );
        }
        let empty = dipsea_peer_list::from_addrs(&[]);
        assert!(empty.peers.is_null() && empty.count == 0);
    }
}
