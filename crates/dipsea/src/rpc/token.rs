//! BEP 5 write tokens: the proof that a node asking to store (`announce_peer`, BEP 44
//! `put`) recently asked us for the key (`get_peers`, `get`) from the same IP address.
//!
//! Entry point: [`Tokens`]. A token is the first [`TOKEN_LEN`] bytes of
//! `SHA-1(secret ‖ ip)`: opaque to the asker, bound to its IP address (not its port),
//! and valid as long as the secret that made it is the current or the previous one. The
//! driver rotates the secret every [`TOKEN_ROTATION`] by calling [`Tokens::maybe_rotate`]
//! with the time (the module never reads a clock), so a token lives 5 to 10 minutes.
//!
//! ```
//! use dipsea::rpc::token::Tokens;
//! use dipsea::Time;
//!
//! let tokens = Tokens::new([7; 16], Time::ZERO);
//! let ip = "203.0.113.5".parse().expect("ip");
//! let token = tokens.token(ip);
//! assert!(tokens.validate(ip, token.as_ref()));
//! ```

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use parking_lot::RwLock;
use rand::RngCore;
use sha1::{Digest, Sha1};

use crate::time::Time;

/// How often the token secret changes: every 5 minutes.
///
/// BEP 5: "the secret changes every five minutes and tokens up to ten minutes old are
/// accepted". A token made with the previous secret is still accepted, so a token is
/// valid for 5 to 10 minutes.
pub const TOKEN_ROTATION: Duration = Duration::from_secs(5 * 60);

/// Length of the tokens we hand out, in bytes.
///
/// BEP 5 leaves the length open (deployed nodes send 4 or 20 bytes). Eight bytes of a
/// keyed SHA-1 cannot be guessed within the 10 minutes a token lives, and keep replies short.
pub const TOKEN_LEN: usize = 8;

/// Length of a token secret, in bytes.
pub const SECRET_LEN: usize = 16;

/// A write token as handed out in `get_peers` and `get` replies. Send its bytes
/// ([`AsRef<[u8]>`]) as the `token` value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Token([u8; TOKEN_LEN]);

impl Token {
    /// The raw token bytes.
    pub const fn as_bytes(&self) -> &[u8; TOKEN_LEN] {
        &self.0
    }
}

impl AsRef<[u8]> for Token {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The two secrets in use and when the current one was installed.
#[derive(Clone, Copy)]
struct Secrets {
    current: [u8; SECRET_LEN],
    previous: [u8; SECRET_LEN],
    rotated_at: Time,
}

/// Makes and checks write tokens (see the module docs). Shared by every thread that
/// answers queries.
///
/// Locking: [`Tokens::token`] and [`Tokens::validate`] take a read lock just long enough
/// to copy the 32 bytes of secrets (readers never wait on each other; the write lock is
/// taken once per rotation) and hash outside it.
pub struct Tokens {
    secrets: RwLock<Secrets>,
}

impl Tokens {
    /// Tokens made from `secret`, as if it had been installed at `now`; the first
    /// rotation is due at `now + TOKEN_ROTATION`.
    ///
    /// Take the secret from a cryptographic random source ([`Tokens::random`] does): a
    /// known secret lets anyone forge tokens.
    pub fn new(secret: [u8; SECRET_LEN], now: Time) -> Tokens {
        Tokens {
            secrets: RwLock::new(Secrets {
                current: secret,
                previous: secret,
                rotated_at: now,
            }),
        }
    }

    /// Tokens made from a secret drawn from `rng`, installed at `now`.
    pub fn random<R: RngCore + ?Sized>(rng: &mut R, now: Time) -> Tokens {
        Tokens::new(random_secret(rng), now)
    }

    /// The token for a node at `ip`, made with the current secret.
    ///
    /// An IPv4-mapped IPv6 address gets the same token as the IPv4 address.
    pub fn token(&self, ip: IpAddr) -> Token {
        let current = self.secrets.read().current;
        make_token(&current, ip)
    }

    /// Whether `token` is one we made for `ip` with the current or the previous secret.
    ///
    /// Compares in constant time, so the answer's timing does not reveal how many
    /// leading bytes of a forged token were right.
    pub fn validate(&self, ip: IpAddr, token: &[u8]) -> bool {
        if token.len() != TOKEN_LEN {
            return false;
        }
        let Secrets {
            current, previous, ..
        } = *self.secrets.read();
        let a = make_token(&current, ip);
        let b = make_token(&previous, ip);
        // `|` rather than `||`: always compare with both.
        ct_eq(token, &a.0) | ct_eq(token, &b.0)
    }

    /// Installs `new_secret` as the current secret at `now`; the current one becomes
    /// the previous one, and tokens made with the old previous one stop validating.
    pub fn rotate(&self, new_secret: [u8; SECRET_LEN], now: Time) {
        let mut secrets = self.secrets.write();
        secrets.previous = secrets.current;
        secrets.current = new_secret;
        secrets.rotated_at = now;
    }

    /// Rotates to a secret drawn from `rng` if [`TOKEN_ROTATION`] has passed since the
    /// last rotation; returns whether it did. Call it from the node's timer, at
    /// [`Tokens::next_rotation`] or on any tick.
    pub fn maybe_rotate<R: RngCore + ?Sized>(&self, now: Time, rng: &mut R) -> bool {
        if now < self.next_rotation() {
            return false;
        }
        let mut secrets = self.secrets.write();
        // Re-check under the write lock: two callers must not rotate twice.
        if now < secrets.rotated_at + TOKEN_ROTATION {
            return false;
        }
        secrets.previous = secrets.current;
        secrets.current = random_secret(rng);
        secrets.rotated_at = now;
        true
    }

    /// When the next rotation is due: the deadline for the driver's timer.
    pub fn next_rotation(&self) -> Time {
        self.secrets.read().rotated_at + TOKEN_ROTATION
    }
}

impl fmt::Debug for Tokens {
    /// Shows when the secret rotates, never the secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("next_rotation", &self.next_rotation())
            .finish_non_exhaustive()
    }
}

fn random_secret<R: RngCore + ?Sized>(rng: &mut R) -> [u8; SECRET_LEN] {
    let mut secret = [0u8; SECRET_LEN];
    rng.fill_bytes(&mut secret);
    secret
}

/// The first [`TOKEN_LEN`] bytes of `SHA-1(secret ‖ ip)`, the IP in network order
/// (4 bytes for IPv4, also when mapped into IPv6; 16 for IPv6).
fn make_token(secret: &[u8; SECRET_LEN], ip: IpAddr) -> Token {
    let mut hasher = Sha1::new();
    hasher.update(secret);
    match ip.to_canonical() {
        IpAddr::V4(v4) => hasher.update(v4.octets()),
        IpAddr::V6(v6) => hasher.update(v6.octets()),
    }
    let digest = hasher.finalize();
    let mut token = [0u8; TOKEN_LEN];
    token.copy_from_slice(&digest[..TOKEN_LEN]);
    Token(token)
}

/// Equality of two equally long byte strings in time independent of their contents.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    const A: &str = "203.0.113.5";
    const B: &str = "198.51.100.7";

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip literal")
    }

    #[test]
    fn token_validates_for_its_ip_only() {
        let tokens = Tokens::new([1; SECRET_LEN], Time::ZERO);
        let t = tokens.token(ip(A));
        assert!(tokens.validate(ip(A), t.as_ref()));
        assert!(!tokens.validate(ip(B), t.as_ref()));
        assert!(!tokens.validate(ip(A), &t.as_ref()[..TOKEN_LEN - 1]));
        assert!(!tokens.validate(ip(A), b""));
        let mut forged = *t.as_bytes();
        forged[0] ^= 1;
        assert!(!tokens.validate(ip(A), &forged));
    }

    #[test]
    fn token_ignores_port_and_v4_mapping() {
        let tokens = Tokens::new([2; SECRET_LEN], Time::ZERO);
        let t = tokens.token(ip(A));
        assert!(tokens.validate(ip("::ffff:203.0.113.5"), t.as_ref()));
        let v6 = ip("2001:db8::1");
        let t6 = tokens.token(v6);
        assert!(tokens.validate(v6, t6.as_ref()));
        assert!(!tokens.validate(ip("2001:db8::2"), t6.as_ref()));
    }

    #[test]
    fn token_survives_one_rotation_not_two() {
        let tokens = Tokens::new([3; SECRET_LEN], Time::ZERO);
        let t = tokens.token(ip(A));
        tokens.rotate([4; SECRET_LEN], Time::ZERO + TOKEN_ROTATION);
        assert!(tokens.validate(ip(A), t.as_ref()));
        assert_ne!(tokens.token(ip(A)), t, "new secret, new token");
        tokens.rotate([5; SECRET_LEN], Time::ZERO + TOKEN_ROTATION * 2);
        assert!(!tokens.validate(ip(A), t.as_ref()));
    }

    #[test]
    fn maybe_rotate_follows_the_clock() {
        let mut rng = SmallRng::seed_from_u64(7);
        let start = Time::from_millis(1_000);
        let tokens = Tokens::random(&mut rng, start);
        let t = tokens.token(ip(A));
        assert_eq!(tokens.next_rotation(), start + TOKEN_ROTATION);
        let almost = (start + TOKEN_ROTATION).saturating_sub(Duration::from_millis(1));
        assert!(!tokens.maybe_rotate(almost, &mut rng));
        assert_eq!(tokens.token(ip(A)), t);

        let first = start + TOKEN_ROTATION;
        assert!(tokens.maybe_rotate(first, &mut rng));
        assert!(
            !tokens.maybe_rotate(first, &mut rng),
            "at most once per period"
        );
        assert!(tokens.validate(ip(A), t.as_ref()));

        assert!(tokens.maybe_rotate(first + TOKEN_ROTATION, &mut rng));
        assert!(!tokens.validate(ip(A), t.as_ref()));
    }

    #[test]
    fn debug_hides_secrets() {
        let tokens = Tokens::new([0xab; SECRET_LEN], Time::ZERO);
        let shown = format!("{tokens:?}");
        assert!(!shown.contains("171"), "{shown}");
        assert!(shown.starts_with("Tokens"));
    }
}
