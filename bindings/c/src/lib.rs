//! The C ABI of dipsea: `libdipsea.so` / `libdipsea.a` and `include/dipsea.h`.
//!
//! Thin by design: every `extern "C"` function checks its arguments, makes one call
//! into the `dipsea` crate, and maps the result to a [`dipsea_status`]. The
//! conventions (opaque handles, status codes, out-pointers written only on success,
//! a thread-local error message, one buffer type, panic boundaries) follow rustls-ffi
//! and are spelled out at the top of the generated header.
//!
//! Entry points: [`config::dipsea_config_default`], [`node::dipsea_node_new`],
//! [`swarm::dipsea_swarm_new`]. The header is generated with cbindgen from
//! `bindings/c/cbindgen.toml` (`make header`).
// The C ABI is the one place where dipsea needs `unsafe`: reading the raw pointers C
// callers pass in. The workspace denies `unsafe_code`; this crate allows it, and every
// pointer goes through the checked helpers in `ffi`.
#![allow(unsafe_code)]
// C names: types are `dipsea_<type>` and status codes `DIPSEA_<NAME>`, as C users
// expect them and as cbindgen copies them into the header.
#![allow(non_camel_case_types)]
// The exported functions take raw pointers from C; each is documented as such in the
// header, and checks them for NULL before use.
#![allow(clippy::missing_safety_doc)]

pub mod buffer;
pub mod config;
pub mod error;
mod ffi;
pub mod id;
pub mod keypair;
pub mod keyspace;
pub mod mutable;
pub mod node;
pub mod onehop;
pub mod peer;
pub mod push;
pub mod scrape;
pub mod swarm;
pub mod swarm_subscribe;

pub use error::dipsea_status;

use std::ffi::c_char;

/// The library version, as a NUL-terminated static string (for example "0.1.0").
///
/// Ownership: the string is static; do not free it. Threads: any thread.
/// Like dipsea_last_error and dipsea_status_str, it returns a string rather than a
/// dipsea_status: it cannot fail.
#[no_mangle]
pub extern "C" fn dipsea_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
