//! A bare KRPC client over a plain UDP socket, for tests that talk to a node the way
//! any peer would, hostile ones included: from a chosen loopback address (Linux
//! routes all of 127.0.0.0/8 to `lo`), one query at a time, with datagrams built by
//! the wire codec or by hand.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use dipsea::wire::{decode, Message, MessageKind, PutArgs, QueryMethod};
use dipsea::Id;
use tokio::net::UdpSocket;

/// How long one query waits for its answer before it is sent again; loopback answers
/// take well under a millisecond, but a machine busy compiling can stall a task.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// How many times a query is sent before the client gives up (and panics: it is a
/// test helper).
pub const ATTEMPTS: u32 = 3;

/// What a node answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A response, with the fields these tests read.
    Response {
        /// The write token, if any.
        token: Option<Vec<u8>>,
        /// The item value, if any.
        v: Option<Vec<u8>>,
        /// The sequence number of a mutable item, if any.
        seq: Option<i64>,
    },
    /// A KRPC error with this code.
    Error(i64),
}

impl Reply {
    /// The error code, if an error.
    pub fn code(&self) -> Option<i64> {
        match self {
            Reply::Error(code) => Some(*code),
            Reply::Response { .. } => None,
        }
    }
}

/// A KRPC client on its own socket.
#[derive(Debug)]
pub struct KrpcClient {
    socket: UdpSocket,
    id: Id,
    next_tid: u16,
    /// Queries sent again after a timeout, over the client's life.
    pub resent: u32,
}

impl KrpcClient {
    /// A client on a free port of `ip` (any address of 127.0.0.0/8 works on Linux).
    pub async fn bind(ip: Ipv4Addr) -> std::io::Result<KrpcClient> {
        Ok(KrpcClient {
            socket: UdpSocket::bind((ip, 0)).await?,
            id: Id::random(),
            next_tid: 0,
            resent: 0,
        })
    }

    /// The client's source IP.
    pub fn ip(&self) -> IpAddr {
        self.socket
            .local_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip())
    }

    fn tid(&mut self) -> [u8; 2] {
        self.next_tid = self.next_tid.wrapping_add(1);
        self.next_tid.to_be_bytes()
    }

    /// Sends the query `method` to `to` and waits for its answer.
    pub async fn ask(&mut self, to: SocketAddr, method: QueryMethod<'_>) -> Reply {
        let tid = self.tid();
        let mut datagram = Vec::new();
        Message::query(&tid, self.id, method).encode(&mut datagram);
        self.exchange(to, &tid, &datagram).await
    }

    /// Sends a hand-made datagram whose transaction id is `tid` and waits for the
    /// answer carrying it.
    pub async fn ask_raw(&mut self, to: SocketAddr, tid: &[u8], datagram: &[u8]) -> Reply {
        self.exchange(to, tid, datagram).await
    }

    async fn exchange(&mut self, to: SocketAddr, tid: &[u8], datagram: &[u8]) -> Reply {
        let mut buf = vec![0u8; 65_536];
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                self.resent += 1;
            }
            self.socket.send_to(datagram, to).await.expect("send");
            let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
            while let Ok(received) =
                tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buf)).await
            {
                let (len, from) = received.expect("recv");
                if from != to {
                    continue;
                }
                let Ok(msg) = decode(&buf[..len]) else {
                    continue;
                };
                if msg.tid != tid {
                    continue; // a late answer to an earlier attempt
                }
                return match msg.kind {
                    MessageKind::Response(r) => Reply::Response {
                        token: r.token.map(<[u8]>::to_vec),
                        v: r.v.map(<[u8]>::to_vec),
                        seq: r.seq,
                    },
                    MessageKind::Error(e) => Reply::Error(e.code),
                    MessageKind::Query(_) => continue,
                };
            }
        }
        panic!("no answer from {to} after {ATTEMPTS} attempts");
    }

    /// A write token from `to`, for this client's IP (asked with a `get`).
    pub async fn token(&mut self, to: SocketAddr) -> Vec<u8> {
        let reply = self
            .ask(
                to,
                QueryMethod::Get {
                    target: Id::random(),
                    seq: None,
                },
            )
            .await;
        match reply {
            Reply::Response {
                token: Some(token), ..
            } => token,
            other => panic!("get answered {other:?}"),
        }
    }

    /// Puts the immutable item `v` (its exact bencoding) with `token`.
    pub async fn put(&mut self, to: SocketAddr, token: &[u8], v: &[u8]) -> Reply {
        self.ask(to, QueryMethod::Put(PutArgs::immutable(token, v)))
            .await
    }

    /// The immutable item `target` as `to` answers a `get` for it.
    pub async fn get(&mut self, to: SocketAddr, target: Id) -> Option<Vec<u8>> {
        match self.ask(to, QueryMethod::Get { target, seq: None }).await {
            Reply::Response { v, .. } => v,
            Reply::Error(code) => panic!("get answered error {code}"),
        }
    }
}
