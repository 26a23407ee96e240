//! The crate's error type: every module's errors gathered in one enum, so bindings
//! map one type exhaustively.

use crate::node::OpError;

/// Anything a dipsea call can fail with. Each variant says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A network operation failed: see [`OpError`] for the cases (no route,
    /// timeout, not stored, bad input, busy, shut down).
    #[error(transparent)]
    Op(#[from] OpError),
    /// The operating system refused something (binding the socket, a state file):
    /// check the address or path and permissions.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// An argument is invalid (an address that does not resolve, an id of the wrong
    /// size); fix the argument.
    #[error("bad input: {0}")]
    BadInput(String),
    /// A bug in dipsea; please report it with the message.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Whether this is a timeout (no node answered in time).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Op(OpError::Timeout))
    }
}
