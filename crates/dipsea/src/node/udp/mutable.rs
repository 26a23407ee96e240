//! BEP 44 mutable items on the async and blocking handles: `put_mutable`,
//! `get_mutable` and their bencoded forms.

use super::{BlockingNode, NodeHandle};
use crate::error::Error;
use crate::keypair::{Keypair, PUBLIC_KEY_LEN};
use crate::node::ops::typed;
use crate::node::{MutablePut, MutableStored, MutableValue, Outcome, Request};
use crate::wire::bencode;

impl NodeHandle {
    /// Publishes `value` (a byte string) as the BEP 44 mutable item of `keypair` with
    /// `options.salt`, on the k nodes closest to `SHA-1(public key ‖ salt)`, and keeps
    /// re-publishing that version until [`NodeHandle::unpublish`] (with
    /// [`MutableStored::target`]) or shutdown. The sequence number is `options.seq`, or
    /// one more than the highest found on the network (1 if none); with
    /// `options.cas`, nodes store it only over that sequence number.
    ///
    /// Errors: [`crate::OpError::BadInput`] for a value over 1000 bytes bencoded or a
    /// salt over 64 bytes; [`crate::OpError::SeqTooOld`] when the nodes hold a newer
    /// version (302), [`crate::OpError::CasMismatch`] when their sequence number is
    /// not `cas` (301); [`crate::OpError::NoRoute`], [`crate::OpError::Timeout`],
    /// [`crate::OpError::NotStored`].
    pub async fn put_mutable(
        &self,
        keypair: &Keypair,
        value: &[u8],
        options: MutablePut,
    ) -> Result<MutableStored, Error> {
        self.put_mutable_bencoded(keypair, bencode::encode_bytes(value), options)
            .await
    }

    /// Like [`NodeHandle::put_mutable`], with `v` given already bencoded (any
    /// bencoded value).
    pub async fn put_mutable_bencoded(
        &self,
        keypair: &Keypair,
        v: Vec<u8>,
        options: MutablePut,
    ) -> Result<MutableStored, Error> {
        let request = Request::PutMutable {
            keypair: Box::new(keypair.clone()),
            v,
            options,
        };
        typed(self.run(request).await, Outcome::into_stored_mutable)
    }

    /// The newest verified version of the mutable item of `public_key` with `salt`
    /// (its signature checked), at least `min_seq` if given; `None` if no node has
    /// one. The value is the byte string if the item holds one, else its bencoding.
    pub async fn get_mutable(
        &self,
        public_key: &[u8; PUBLIC_KEY_LEN],
        salt: &[u8],
        min_seq: Option<i64>,
    ) -> Result<Option<MutableValue>, Error> {
        let request = Request::GetMutable {
            public_key: *public_key,
            salt: salt.to_vec(),
            min_seq,
        };
        let item = typed(self.run(request).await, Outcome::into_mutable)?;
        Ok(item.as_deref().map(MutableValue::from_item))
    }
}

impl BlockingNode {
    /// See [`NodeHandle::put_mutable`].
    pub fn put_mutable(
        &self,
        keypair: &Keypair,
        value: &[u8],
        options: MutablePut,
    ) -> Result<MutableStored, Error> {
        self.runtime()
            .block_on(self.handle().put_mutable(keypair, value, options))
    }

    /// See [`NodeHandle::get_mutable`].
    pub fn get_mutable(
        &self,
        public_key: &[u8; PUBLIC_KEY_LEN],
        salt: &[u8],
        min_seq: Option<i64>,
    ) -> Result<Option<MutableValue>, Error> {
        self.runtime()
            .block_on(self.handle().get_mutable(public_key, salt, min_seq))
    }
}
