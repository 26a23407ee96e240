//! `dipsea_partitioner`: the core's keyspace partitioners (XOR distance, a
//! consistent-hashing ring, rendezvous hashing), which name the r owners of a key
//! among members; usable on their own, to map keys to servers of your own.

use dipsea::keyspace::{Scheme, SharedPartitioner, DEFAULT_VNODES};
use dipsea::{Error, Id};

use crate::error::{dipsea_status, Failure};
use crate::ffi::{arg, boundary, out, write_out};
use crate::id::dipsea_id;

/// dipsea_partitioner_new kind: Kademlia's, the members closest to the key by XOR
/// distance.
pub const DIPSEA_PARTITIONER_XOR: u32 = 0;
/// dipsea_partitioner_new kind: consistent hashing with virtual nodes; the owners are
/// the first distinct members clockwise from the key's point.
pub const DIPSEA_PARTITIONER_RING: u32 = 1;
/// dipsea_partitioner_new kind: rendezvous (highest random weight) hashing; every
/// member scores the key and the highest scores own it; weighted members allowed.
pub const DIPSEA_PARTITIONER_RENDEZVOUS: u32 = 2;

/// The virtual nodes per member of a ring made with `vnodes` = 0.
pub const DIPSEA_PARTITIONER_DEFAULT_VNODES: usize = 64;

/// A set of members and the rule that names a key's owners among them. Opaque; made
/// by dipsea_partitioner_new, released by dipsea_partitioner_free. Thread-safe:
/// lookups from many threads run in parallel; adds and removes wait for them.
pub struct dipsea_partitioner {
    inner: SharedPartitioner,
}

impl From<dipsea::keyspace::PartitionError> for Failure {
    fn from(err: dipsea::keyspace::PartitionError) -> Failure {
        Failure::from(Error::from(err))
    }
}

/// The scheme of a partitioner `kind` (DIPSEA_PARTITIONER_XOR, _RING or _RENDEZVOUS)
/// with `vnodes` virtual nodes per member on a ring (0: the default); the one reading
/// of these two numbers for every struct and function that takes them.
pub(crate) fn scheme(kind: u32, vnodes: usize) -> Result<Scheme, Failure> {
    Ok(match kind {
        DIPSEA_PARTITIONER_XOR => Scheme::Xor,
        DIPSEA_PARTITIONER_RING if vnodes == 0 => Scheme::Ring {
            vnodes: DEFAULT_VNODES,
        },
        DIPSEA_PARTITIONER_RING => Scheme::Ring { vnodes },
        DIPSEA_PARTITIONER_RENDEZVOUS => Scheme::Rendezvous,
        _ => {
            return Err(Failure::invalid(format!(
                "unknown partitioner kind {kind}: expected DIPSEA_PARTITIONER_XOR, \
                 _RING or _RENDEZVOUS"
            )))
        }
    })
}

/// Makes an empty partitioner of `kind` (DIPSEA_PARTITIONER_XOR, _RING or
/// _RENDEZVOUS) and writes it to `*out_partitioner`. `vnodes` is the ring's virtual
/// nodes per member, 1 to 4096, or 0 for DIPSEA_PARTITIONER_DEFAULT_VNODES; the other
/// kinds ignore it.
///
/// Ownership: the caller owns `*out_partitioner` and frees it with
/// dipsea_partitioner_free. Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `out_partitioner` is NULL;
/// DIPSEA_BAD_INPUT for an unknown `kind` or `vnodes` over 4096.
/// `*out_partitioner` is written only on DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_partitioner_new(
    kind: u32,
    vnodes: usize,
    out_partitioner: *mut *mut dipsea_partitioner,
) -> dipsea_status {
    boundary(|| {
        let out_partitioner = out(out_partitioner, "out_partitioner")?;
        let scheme = scheme(kind, vnodes)?;
        let partitioner = Box::new(dipsea_partitioner {
            inner: SharedPartitioner::new(scheme.build()?),
        });
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_partitioner, Box::into_raw(partitioner)) };
        Ok(())
    })
}

/// Releases a partitioner. NULL: a no-op.
///
/// Threads: any thread, once no other thread uses the partitioner. Statuses: DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_partitioner_free(
    partitioner: *mut dipsea_partitioner,
) -> dipsea_status {
    boundary(|| {
        if !partitioner.is_null() {
            // SAFETY: non-NULL, made by dipsea_partitioner_new, freed once (contract).
            drop(unsafe { Box::from_raw(partitioner) });
        }
        Ok(())
    })
}

/// Borrows a partitioner argument.
///
/// # Safety
/// `partitioner` is NULL or a live partitioner.
unsafe fn partitioner_arg<'a>(
    partitioner: *const dipsea_partitioner,
) -> Result<&'a SharedPartitioner, Failure> {
    // SAFETY: the caller's contract.
    unsafe { arg(partitioner, "partitioner") }.map(|p| &p.inner)
}

/// Adds `*member` with weight 1.
///
/// Ownership: `member` is borrowed for the call. Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if an argument is NULL;
/// DIPSEA_BAD_INPUT if `*member` is a member already.
#[no_mangle]
pub unsafe extern "C" fn dipsea_partitioner_add(
    partitioner: *const dipsea_partitioner,
    member: *const dipsea_id,
) -> dipsea_status {
    // SAFETY: this function's contract is dipsea_partitioner_add_weighted's.
    unsafe { dipsea_partitioner_add_weighted(partitioner, member, 1.0) }
}

/// Adds `*member` with a share proportional to `weight` (1 is the default share).
/// Only DIPSEA_PARTITIONER_RENDEZVOUS takes weights other than 1.
///
/// Ownership: `member` is borrowed for the call. Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if an argument is NULL;
/// DIPSEA_BAD_INPUT if `*member` is a member already, or `weight` is not
/// finite and positive, or not 1 for a kind without weights.
#[no_mangle]
pub unsafe extern "C" fn dipsea_partitioner_add_weighted(
    partitioner: *const dipsea_partitioner,
    member: *const dipsea_id,
    weight: f64,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or live pointers, by this function's contract.
        let partitioner = unsafe { partitioner_arg(partitioner) }?;
        let member = Id::from(*unsafe { arg(member, "member") }?);
        Ok(partitioner.add_weighted(member, weight)?)
    })
}

/// Adds the `members_len` ids at `members`, all or none (one pass over a ring,
/// cheaper than adding them one by one).
///
/// Ownership: `members` is borrowed for the call (NULL allowed when `members_len` is
/// 0). Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `partitioner` is NULL, or `members`
/// is NULL with a nonzero length; DIPSEA_BAD_INPUT if an id repeats or is a
/// member already (then none is added).
#[no_mangle]
pub unsafe extern "C" fn dipsea_partitioner_add_all(
    partitioner: *const dipsea_partitioner,
    members: *const dipsea_id,
    members_len: usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a live partitioner, by this function's contract.
        let partitioner = unsafe { partitioner_arg(partitioner) }?;
        // SAFETY: NULL (with length 0) or `members_len` readable ids, by contract.
        let members = unsafe { ids_arg(members, members_len) }?;
        let ids: Vec<Id> = members.iter().map(|&m| Id::from(m)).collect();
        Ok(partitioner.add_all(&ids)?)
    })
}

/// Borrows `len` ids at `ptr`; `ptr` may be NULL only when `len` is 0.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable ids valid for `'a`.
unsafe fn ids_arg<'a>(ptr: *const dipsea_id, len: usize) -> Result<&'a [dipsea_id], Failure> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Failure::null("members"))
        };
    }
    if len > isize::MAX as usize / std::mem::size_of::<dipsea_id>() {
        return Err(Failure::invalid("argument `members_len` is too large"));
    }
    // SAFETY: non-NULL, `len` readable ids by the caller's contract; dipsea_id has
    // alignment 1.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Removes `*member`.
///
/// Ownership: `member` is borrowed for the call. Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if an argument is NULL;
/// DIPSEA_BAD_INPUT if `*member` is not a member.
#[no_mangle]
pub unsafe extern "C" fn dipsea_partitioner_remove(
    partitioner: *const dipsea_partitioner,
    member: *const dipsea_id,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or live pointers, by this function's contract.
        let partitioner = unsafe { partitioner_arg(partitioner) }?;
        let member = Id::from(*unsafe { arg(member, "member") }?);
        Ok(partitioner.remove(&member)?)
    })
}

/// Writes the `r` owners of `*key`, in order of preference (the first is the
/// primary), to `out_ids`, an array of `out_ids_len` ids, and `r` to `*out_n`.
///
/// Ownership: `key` is borrowed; `out_ids` and `out_n` are yours; nothing is
/// allocated. Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `partitioner`, `key` or `out_n` is
/// NULL, or `out_ids` is NULL while `r` > 0; DIPSEA_BUFFER_TOO_SMALL if `r` >
/// `out_ids_len`; DIPSEA_BAD_INPUT if `r` exceeds the number of members
/// (it does not quietly return fewer). `out_ids` and `*out_n` are written only on
/// DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_partitioner_owners(
    partitioner: *const dipsea_partitioner,
    key: *const dipsea_id,
    r: usize,
    out_ids: *mut dipsea_id,
    out_ids_len: usize,
    out_n: *mut usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or live pointers, by this function's contract.
        let partitioner = unsafe { partitioner_arg(partitioner) }?;
        let key = Id::from(*unsafe { arg(key, "key") }?);
        let out_n = out(out_n, "out_n")?;
        if r > out_ids_len {
            return Err(Failure::new(
                dipsea_status::DIPSEA_BUFFER_TOO_SMALL,
                format!("asked for {r} owners, out_ids holds {out_ids_len}"),
            ));
        }
        let owners = partitioner.owners(&key, r)?;
        if !owners.is_empty() {
            let out_ids = out(out_ids, "out_ids")?;
            for (i, owner) in owners.iter().enumerate() {
                // SAFETY: non-NULL, `out_ids_len >= r` writable ids by contract.
                unsafe { write_out(out_ids.add(i), dipsea_id::from(*owner)) };
            }
        }
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_n, owners.len()) };
        Ok(())
    })
}

/// Writes the number of members to `*out_len`.
///
/// Threads: any thread. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if an argument is
/// NULL.
#[no_mangle]
pub unsafe extern "C" fn dipsea_partitioner_len(
    partitioner: *const dipsea_partitioner,
    out_len: *mut usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a live partitioner, by this function's contract.
        let partitioner = unsafe { partitioner_arg(partitioner) }?;
        let out_len = out(out_len, "out_len")?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_len, partitioner.len()) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_vnodes_match_the_core() {
        assert_eq!(DIPSEA_PARTITIONER_DEFAULT_VNODES, DEFAULT_VNODES);
    }
}
