//! Keyspace partitioning: which r members own a key.
//!
//! Entry point: the [`Partitioner`] trait, "the r owners of this key among these
//! members", with members added and removed one at a time (no rebuild). Three
//! implementations, the three classic answers:
//!
//! - [`Xor`]: Kademlia's, the r members closest to the key by XOR distance.
//! - [`Ring`]: consistent hashing (Karger et al., STOC 1997) with virtual nodes, as in
//!   Dynamo and Cassandra: the owners are the first r distinct members clockwise from
//!   the key's point on a ring.
//! - [`Rendezvous`]: highest random weight (Thaler and Ravishankar, IEEE/ACM ToN 1998):
//!   every member scores the key, the r highest scores own it; weighted members get
//!   shares proportional to their weights.
//!
//! Members are [`Id`]s; a key is an [`Id`] too (usually the SHA-1 of what it names).
//! All three are deterministic and take no per-process seed, so every process that
//! knows the same members names the same owners. They are usable on their own, to map
//! keys to your own servers, from Rust, Python (`dipsea.Ring`, `dipsea.Rendezvous`,
//! `dipsea.XorPartitioner`) and C (`dipsea_partitioner_*`).
//!
//! ```
//! use dipsea::keyspace::{Partitioner, Rendezvous};
//! use dipsea::Id;
//!
//! let servers: Vec<Id> = (0..5).map(|i| Id::sha1(format!("server-{i}").as_bytes())).collect();
//! let mut hrw = Rendezvous::with_members(&servers)?;
//! let key = Id::sha1(b"user:42");
//! let owners = hrw.owners(&key, 3)?;
//! assert_eq!(owners.len(), 3);
//! hrw.remove(&owners[0])?;                       // only the keys it owned move
//! assert_eq!(hrw.owners(&key, 2)?, owners[1..]);
//! # Ok::<(), dipsea::keyspace::PartitionError>(())
//! ```
//!
//! [`Scheme`] names a partitioner at run time (from a string or a C enum), and
//! [`SharedPartitioner`] puts one behind a lock for use from several threads.

mod balance;
mod hash;
mod rendezvous;
mod ring;
mod xor;

use std::fmt;
use std::str::FromStr;

use parking_lot::RwLock;

use crate::error::Error;
use crate::id::Id;

pub use balance::{moved, primaries, Balance};
pub use rendezvous::Rendezvous;
pub use ring::{Ring, DEFAULT_VNODES, MAX_VNODES};
pub use xor::Xor;

/// Why a partitioner refused a call. Converts into [`Error::BadInput`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PartitionError {
    /// The id is already a member; member ids must be unique. Remove it first to
    /// change its weight.
    #[error("duplicate member {0}")]
    DuplicateMember(Id),
    /// The id is not a member; nothing to remove.
    #[error("unknown member {0}")]
    UnknownMember(Id),
    /// More owners were asked for than there are members; ask for at most
    /// [`Partitioner::len`] (the caller decides whether fewer replicas will do).
    #[error("asked for {wanted} owners among {members} members")]
    TooFewMembers {
        /// The number of owners asked for.
        wanted: usize,
        /// The number of members.
        members: usize,
    },
    /// A rendezvous weight is zero, negative, infinite or NaN; pass a finite
    /// positive number.
    #[error("a member's weight must be finite and positive, got {0}")]
    BadWeight(f64),
    /// A ring's virtual node count is out of range; pass 1 to [`MAX_VNODES`].
    #[error("a ring needs 1 to {max} virtual nodes per member, got {0}", max = MAX_VNODES)]
    BadVnodes(usize),
    /// This partitioner gives every member the same share; weights other than 1 need
    /// [`Rendezvous`].
    #[error("the {0} partitioner does not take weights; use rendezvous")]
    Unweighted(&'static str),
    /// A partitioner name is not one of `xor`, `ring` or `rendezvous`.
    #[error("unknown partitioner {0:?}: expected xor, ring or rendezvous")]
    UnknownScheme(String),
}

impl From<PartitionError> for Error {
    fn from(err: PartitionError) -> Error {
        Error::BadInput(err.to_string())
    }
}

/// A way of naming the r members that own a key.
///
/// Owners come in order of preference: the first is the primary, the next ones the
/// replicas a write goes to as well (and where a read looks when the first fails).
/// Asking for the owners of the same key among the same members always gives the same
/// list, whatever order the members were added in.
pub trait Partitioner: Send + Sync + fmt::Debug {
    /// Adds a member. Fails with [`PartitionError::DuplicateMember`] if it is one already.
    fn add(&mut self, member: Id) -> Result<(), PartitionError>;

    /// Adds a member with a share proportional to `weight` (1 is the default share).
    ///
    /// Only [`Rendezvous`] takes weights; the others accept 1 and refuse anything else
    /// with [`PartitionError::Unweighted`].
    fn add_weighted(&mut self, member: Id, weight: f64) -> Result<(), PartitionError>;

    /// Adds several members at once: cheaper than one by one for a ring (one merge).
    /// All or nothing: a duplicate (among them, or of a member) adds none.
    fn add_all(&mut self, members: &[Id]) -> Result<(), PartitionError>;

    /// Removes a member. Fails with [`PartitionError::UnknownMember`] if it is not one.
    fn remove(&mut self, member: &Id) -> Result<(), PartitionError>;

    /// Whether `member` is a member.
    fn contains(&self, member: &Id) -> bool;

    /// How many members there are.
    fn len(&self) -> usize;

    /// Whether there are no members.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The members, sorted by id.
    fn members(&self) -> Vec<Id>;

    /// Writes the `r` owners of `key` into `out` (cleared first), in order of
    /// preference; reuse `out` across calls to avoid an allocation per lookup.
    ///
    /// Fails with [`PartitionError::TooFewMembers`] when `r` exceeds [`Self::len`]
    /// (it does not quietly return fewer). `r` = 0 gives an empty list.
    fn owners_into(&self, key: &Id, r: usize, out: &mut Vec<Id>) -> Result<(), PartitionError>;

    /// The `r` owners of `key`, in order of preference; see [`Self::owners_into`].
    fn owners(&self, key: &Id, r: usize) -> Result<Vec<Id>, PartitionError> {
        let mut out = Vec::with_capacity(r.min(self.len()));
        self.owners_into(key, r, &mut out)?;
        Ok(out)
    }
}

/// Refuses `r` greater than `members` (shared by the implementations).
fn check_replicas(r: usize, members: usize) -> Result<(), PartitionError> {
    if r > members {
        return Err(PartitionError::TooFewMembers { wanted: r, members });
    }
    Ok(())
}

/// Fails on an id that appears twice in `members` (which is sorted); shared by the
/// implementations' `add_all`.
fn check_sorted_unique(sorted: &[Id]) -> Result<(), PartitionError> {
    match sorted.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(PartitionError::DuplicateMember(w[0])),
        None => Ok(()),
    }
}

/// Inserts `member` into the sorted `members` (of [`Ring`] and [`Xor`]); fails if
/// it is there already.
fn insert_sorted(members: &mut Vec<Id>, member: Id) -> Result<(), PartitionError> {
    match members.binary_search(&member) {
        Ok(_) => Err(PartitionError::DuplicateMember(member)),
        Err(at) => {
            members.insert(at, member);
            Ok(())
        }
    }
}

/// Removes `member` from the sorted `members`; fails if it is not there.
fn remove_sorted(members: &mut Vec<Id>, member: &Id) -> Result<(), PartitionError> {
    let at = members
        .binary_search(member)
        .map_err(|_| PartitionError::UnknownMember(*member))?;
    members.remove(at);
    Ok(())
}

/// The sorted `members` with `more` added, sorted; fails on a duplicate.
fn merge_sorted(members: &[Id], more: &[Id]) -> Result<Vec<Id>, PartitionError> {
    let mut all = members.to_vec();
    all.extend_from_slice(more);
    all.sort_unstable();
    check_sorted_unique(&all)?;
    Ok(all)
}

/// The start of every `owners_into`: fails if `r` is more than the `members`,
/// clears `out`, and says whether there is anything to collect (`r` > 0).
fn begin_owners(r: usize, members: usize, out: &mut Vec<Id>) -> Result<bool, PartitionError> {
    check_replicas(r, members)?;
    out.clear();
    Ok(r > 0)
}

/// The `add_weighted` of the partitioners without weights: weight 1 is a plain add.
fn add_unweighted<P: Partitioner + ?Sized>(
    partitioner: &mut P,
    name: &'static str,
    member: Id,
    weight: f64,
) -> Result<(), PartitionError> {
    if weight == 1.0 {
        partitioner.add(member)
    } else {
        Err(PartitionError::Unweighted(name))
    }
}

/// A partitioner chosen at run time: by name (`"xor"`, `"ring"`, `"ring:64"`,
/// `"rendezvous"`) or by the C enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// [`Xor`]: the closest by XOR distance.
    Xor,
    /// [`Ring`] with this many virtual nodes per member.
    Ring {
        /// Virtual nodes per member, 1 to [`MAX_VNODES`].
        vnodes: usize,
    },
    /// [`Rendezvous`]: highest random weight, all weights 1.
    Rendezvous,
}

impl Scheme {
    /// An empty partitioner of this scheme. Fails only on a ring's vnode count.
    pub fn build(self) -> Result<Box<dyn Partitioner>, PartitionError> {
        Ok(match self {
            Scheme::Xor => Box::new(Xor::new()),
            Scheme::Ring { vnodes } => Box::new(Ring::new(vnodes)?),
            Scheme::Rendezvous => Box::new(Rendezvous::new()),
        })
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scheme::Xor => f.write_str("xor"),
            Scheme::Ring { vnodes } => write!(f, "ring:{vnodes}"),
            Scheme::Rendezvous => f.write_str("rendezvous"),
        }
    }
}

impl FromStr for Scheme {
    type Err = PartitionError;

    /// `xor`, `rendezvous`, `ring` (with [`DEFAULT_VNODES`]) or `ring:V`.
    fn from_str(s: &str) -> Result<Scheme, PartitionError> {
        let unknown = || PartitionError::UnknownScheme(s.to_owned());
        match s.split_once(':') {
            None if s == "xor" => Ok(Scheme::Xor),
            None if s == "rendezvous" => Ok(Scheme::Rendezvous),
            None if s == "ring" => Ok(Scheme::Ring {
                vnodes: DEFAULT_VNODES,
            }),
            Some(("ring", v)) => {
                let vnodes = v.parse().map_err(|_| unknown())?;
                ring::check_vnodes(vnodes)?;
                Ok(Scheme::Ring { vnodes })
            }
            _ => Err(unknown()),
        }
    }
}

/// A partitioner behind a read-write lock, for use from several threads (the Python
/// and C bindings hold one).
///
/// Locking behaviour: lookups take the read lock, so they run in parallel; `add` and
/// `remove` take the write lock. No method takes any other lock.
#[derive(Debug)]
pub struct SharedPartitioner {
    inner: RwLock<Box<dyn Partitioner>>,
}

impl SharedPartitioner {
    /// Wraps a partitioner.
    pub fn new(partitioner: Box<dyn Partitioner>) -> SharedPartitioner {
        SharedPartitioner {
            inner: RwLock::new(partitioner),
        }
    }

    /// A partitioner of `scheme` holding `members`.
    pub fn with_members(
        scheme: Scheme,
        members: &[Id],
    ) -> Result<SharedPartitioner, PartitionError> {
        let mut partitioner = scheme.build()?;
        partitioner.add_all(members)?;
        Ok(SharedPartitioner::new(partitioner))
    }

    /// See [`Partitioner::add`]. Takes the write lock.
    pub fn add(&self, member: Id) -> Result<(), PartitionError> {
        self.inner.write().add(member)
    }

    /// See [`Partitioner::add_weighted`]. Takes the write lock.
    pub fn add_weighted(&self, member: Id, weight: f64) -> Result<(), PartitionError> {
        self.inner.write().add_weighted(member, weight)
    }

    /// See [`Partitioner::add_all`]. Takes the write lock.
    pub fn add_all(&self, members: &[Id]) -> Result<(), PartitionError> {
        self.inner.write().add_all(members)
    }

    /// See [`Partitioner::remove`]. Takes the write lock.
    pub fn remove(&self, member: &Id) -> Result<(), PartitionError> {
        self.inner.write().remove(member)
    }

    /// See [`Partitioner::owners`]. Takes the read lock.
    pub fn owners(&self, key: &Id, r: usize) -> Result<Vec<Id>, PartitionError> {
        self.inner.read().owners(key, r)
    }

    /// See [`Partitioner::contains`]. Takes the read lock.
    pub fn contains(&self, member: &Id) -> bool {
        self.inner.read().contains(member)
    }

    /// See [`Partitioner::len`]. Takes the read lock.
    pub fn len(&self) -> usize {
        self.inner.read().len()
    }

    /// See [`Partitioner::is_empty`]. Takes the read lock.
    pub fn is_empty(&self) -> bool {
        self.inner.read().is_empty()
    }

    /// See [`Partitioner::members`]. Takes the read lock.
    pub fn members(&self) -> Vec<Id> {
        self.inner.read().members()
    }
}

#[cfg(test)]
mod tests;
