//! `dipsea_config`: how to build a node (bind address, bootstrap routers, k, timeouts).

use std::ffi::c_char;
use std::time::Duration;

use dipsea::NodeBuilder;

use crate::error::{dipsea_status, Failure};
use crate::ffi::{arg, arg_mut, boundary, out, str_arg, write_out};
use crate::id::dipsea_id;

/// Opaque: the settings dipsea_node_new starts a node with. Created by
/// dipsea_config_default, changed by the `dipsea_config_set_*` / `_add_*` functions,
/// released by dipsea_config_free.
///
/// Threads: a config may move between threads, but must not be changed by two threads
/// at once; dipsea_node_new only reads it, so several threads may start nodes from
/// one config that nobody changes meanwhile.
pub struct dipsea_config {
    pub(crate) builder: NodeBuilder,
}

/// Creates a config with the defaults: bind port 0 (a free one) on all interfaces,
/// IPv4 and, when the host has it, IPv6 (BEP 32 dual stack, see dipsea_config_set_bind6),
/// no bootstrap address, a random node id, and the core's defaults for every option
/// (documented once, on the core's `NodeConfig`; dipsea_config_get_option reads
/// them).
///
/// Ownership: `*out_config` is yours; release it with dipsea_config_free (it may be
/// freed as soon as dipsea_node_new returns). Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `out_config` is NULL.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_default(
    out_config: *mut *mut dipsea_config,
) -> dipsea_status {
    boundary(|| {
        let out_config = out(out_config, "out_config")?;
        let config = Box::new(dipsea_config {
            builder: NodeBuilder::new(),
        });
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_config, Box::into_raw(config)) };
        Ok(())
    })
}

/// Releases a config. NULL: a no-op. Nodes started from it are not affected.
///
/// Threads: any thread, once nothing else uses the config.
/// Statuses: DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_free(config: *mut dipsea_config) -> dipsea_status {
    boundary(|| {
        if !config.is_null() {
            // SAFETY: non-NULL, made by dipsea_config_default, freed once (contract).
            drop(unsafe { Box::from_raw(config) });
        }
        Ok(())
    })
}

/// Applies `change` to the builder of a non-NULL config.
///
/// # Safety
/// `config` is NULL or a live config that nothing else uses during the call.
pub(crate) unsafe fn update(
    config: *mut dipsea_config,
    change: impl FnOnce(NodeBuilder) -> Result<NodeBuilder, Failure>,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: the caller's contract.
        let config = unsafe { arg_mut(config, "config") }?;
        config.builder = change(config.builder.clone())?;
        Ok(())
    })
}

/// Sets the local UDP address to bind, `"HOST:PORT"` (port 0 picks a free port;
/// `"127.0.0.1:0"` for a loopback test). It is resolved by dipsea_node_new.
///
/// Ownership: `addr` is copied. Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` or `addr` is NULL;
/// DIPSEA_BAD_INPUT if `addr` is not UTF-8.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_bind(
    config: *mut dipsea_config,
    addr: *const c_char,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe {
        update(config, |b| {
            let addr = str_arg(addr, "addr")?;
            Ok(b.bind(addr))
        })
    }
}

/// Sets an IPv6 address to bind beside the IPv4 one of dipsea_config_set_bind,
/// `"[HOST]:PORT"` (port 0 takes the IPv4 socket's port): a dual-stack node (BEP 32)
/// with a routing table per family, that answers and looks up over both. Without
/// dipsea_config_set_bind and this, the node binds port 0 on all interfaces, IPv4
/// and, when the host has it, IPv6. Resolved by dipsea_node_new, which fails with
/// DIPSEA_IO if it cannot be bound.
///
/// Ownership: `addr` is copied. Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` or `addr` is NULL;
/// DIPSEA_BAD_INPUT if `addr` is not UTF-8.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_bind6(
    config: *mut dipsea_config,
    addr: *const c_char,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe {
        update(config, |b| {
            let addr = str_arg(addr, "addr")?;
            Ok(b.bind6(addr))
        })
    }
}

/// Adds a bootstrap address, `"HOST:PORT"`: a node to join the network through, tried
/// in turn with the others when joining and whenever the routing table empties.
/// Names are resolved by dipsea_node_new.
///
/// Ownership: `addr` is copied. Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` or `addr` is NULL;
/// DIPSEA_BAD_INPUT if `addr` is not UTF-8.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_add_bootstrap(
    config: *mut dipsea_config,
    addr: *const c_char,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe {
        update(config, |b| {
            let addr = str_arg(addr, "addr")?;
            Ok(b.bootstrap([addr]))
        })
    }
}

/// Sets the node id (random by default, or the one saved at the state path).
///
/// Ownership: `*id` is copied. Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` or `id` is NULL.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_id(
    config: *mut dipsea_config,
    id: *const dipsea_id,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe {
        update(config, |b| {
            let id = *arg(id, "id")?;
            Ok(b.id(id.into()))
        })
    }
}

/// Sets k, the bucket size and replication factor (option `k`).
/// dipsea_node_new checks it (1 to 1024).
///
/// Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` is NULL.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_k(
    config: *mut dipsea_config,
    k: usize,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe { update(config, |b| Ok(b.k(k))) }
}

/// Sets alpha, how many queries a lookup keeps in flight (option `alpha`).
/// dipsea_node_new checks it (1 to 1024).
///
/// Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` is NULL.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_alpha(
    config: *mut dipsea_config,
    alpha: usize,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe { update(config, |b| Ok(b.alpha(alpha))) }
}

/// Bounds the per-query timeout, in milliseconds; between them it follows the
/// measured round-trip time (options `timeout_floor` and `timeout_ceiling`). Short
/// bounds find dead nodes sooner (loopback tests); long ones suit slow networks.
/// dipsea_node_new checks them (at least 1 ms, `floor_ms <= ceiling_ms`).
///
/// Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` is NULL.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_query_timeout_ms(
    config: *mut dipsea_config,
    floor_ms: u32,
    ceiling_ms: u32,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe {
        update(config, |b| {
            Ok(b.query_timeout(
                Duration::from_millis(floor_ms.into()),
                Duration::from_millis(ceiling_ms.into()),
            ))
        })
    }
}

/// Gives the node a runtime of its own with `workers` threads (they receive
/// datagrams and run callbacks), shut down by dipsea_node_free. Without this call,
/// every node of the process shares one runtime with a thread per core, created by
/// the first dipsea_node_new and shut down by the dipsea_node_free of the last node.
///
/// Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` is NULL.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_workers(
    config: *mut dipsea_config,
    workers: usize,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe { update(config, |b| Ok(b.dedicated_runtime(workers))) }
}

/// Read-only mode (BEP 43): the node answers no queries and asks others not to add it
/// to their routing tables; it can still put, get, announce and look up.
///
/// Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` is NULL.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_read_only(
    config: *mut dipsea_config,
    read_only: bool,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe { update(config, |b| Ok(b.read_only(read_only))) }
}

/// Without default routers (`none` true), a node given no bootstrap address and no
/// saved state joins nothing and waits to be contacted: the first node of a private
/// or test network. By default (`none` false) such a node joins the public Mainline
/// DHT through its well-known routers (router.bittorrent.com:6881 and others),
/// resolved by dipsea_node_new, which fails with DIPSEA_IO ("none of the default
/// routers resolved (offline?) ...") when none resolves. A bootstrap address or a
/// saved state replaces the default routers either way.
///
/// Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` is NULL.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_no_default_routers(
    config: *mut dipsea_config,
    none: bool,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe { update(config, |b| Ok(b.no_default_routers(none))) }
}

/// Sets a file to save the routing table to (periodically and when the node is freed)
/// and to load it from on start, so a restarted node rejoins without a bootstrap
/// address.
///
/// Ownership: `path` is copied. Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` or `path` is NULL;
/// DIPSEA_BAD_INPUT if `path` is not UTF-8.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_state_path(
    config: *mut dipsea_config,
    path: *const c_char,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe {
        update(config, |b| {
            let path = str_arg(path, "path")?;
            Ok(b.state_path(path))
        })
    }
}

/// Makes the node a member of the private network called `name` (1 to 255 bytes of
/// UTF-8; every node of the network uses the same name): it tags every message with
/// the network's id, drops messages of other networks (the public DHT's included;
/// counted in dipsea_stats.foreign_network) and never uses the default routers.
/// Without it (the default) the node is on the public Mainline network.
///
/// Ownership: `name` is borrowed for the call. Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` or `name` is NULL;
/// DIPSEA_BAD_INPUT if `name` is not UTF-8, empty or longer than 255 bytes.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_network(
    config: *mut dipsea_config,
    name: *const c_char,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe {
        update(config, |b| {
            let name = str_arg(name, "name")?;
            Ok(b.network(dipsea::node::NetworkId::from_name(name)?))
        })
    }
}

/// Chooses the node's overlay by name: `"kademlia"` (the default) or `"one-hop"`:
/// every member keeps the full member list and a get or put goes straight to the
/// key's owners, one round trip. A one-hop node needs dipsea_config_set_network (it
/// never joins the public DHT), may not have an id set (its id is SHA-1 of its
/// member key), and accepts broadcasts (membership travels by them). Its bootstrap
/// addresses are members it joins through. Defaults: rendezvous partitioner, 3
/// replicas (dipsea_config_set_partitioner, dipsea_config_set_replicas).
///
/// Ownership: `name` is borrowed for the call. Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` or `name` is NULL;
/// DIPSEA_BAD_INPUT for another name. A one-hop config without a network fails in
/// dipsea_node_new with DIPSEA_BAD_INPUT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_overlay(
    config: *mut dipsea_config,
    name: *const c_char,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe {
        update(config, |b| {
            let name = str_arg(name, "name")?;
            Ok(b.overlay(dipsea::onehop::Overlay::from_name(name)?))
        })
    }
}

/// Sets the partitioner of a one-hop node by name: `"rendezvous"` (the default),
/// `"ring"`, `"ring:V"` (V virtual nodes per member) or `"xor"`.
///
/// Ownership: `name` is borrowed for the call. Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` or `name` is NULL;
/// DIPSEA_BAD_INPUT for an unknown name, or when the overlay is not one-hop
/// (call dipsea_config_set_overlay first).
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_partitioner(
    config: *mut dipsea_config,
    name: *const c_char,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe {
        update(config, |mut b| {
            let name = str_arg(name, "name")?;
            let scheme = name
                .parse::<dipsea::keyspace::Scheme>()
                .map_err(dipsea::Error::from)?;
            b.config_mut().overlay.one_hop_mut()?.partitioner = scheme;
            Ok(b)
        })
    }
}

/// Sets how many owners (replicas) each key has on a one-hop node: a put goes to
/// all of them, a get to the first and then the next ones. Default 3; with fewer
/// members, every member owns every key.
///
/// Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` is NULL; DIPSEA_BAD_INPUT
/// when the overlay is not one-hop; `replicas` 0 fails in dipsea_node_new with
/// DIPSEA_BAD_INPUT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_replicas(
    config: *mut dipsea_config,
    replicas: usize,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe {
        update(config, |mut b| {
            b.config_mut().overlay.one_hop_mut()?.replicas = replicas;
            Ok(b)
        })
    }
}

/// Sets the node option called `name` (every field of the core's `NodeConfig`: `k`,
/// `alpha`, `max_in_flight`, `timeout_floor`, `store.max_items`,
/// `rate_limit.per_ip_rate`, ...; the core's `NodeConfig::options` lists them, and
/// the `NodeConfig` docs say what each means and its default). `value` is a count as
/// is, a flag as 0 or 1, a duration in milliseconds. Rules between options
/// (`timeout_floor <= timeout_ceiling`) are checked by dipsea_node_new.
///
/// Ownership: `name` is borrowed for the call. Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` or `name` is NULL;
/// DIPSEA_BAD_INPUT if no option has that name or `value` is outside its range
/// (dipsea_last_error() gives the range); the config is then unchanged.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_option(
    config: *mut dipsea_config,
    name: *const c_char,
    value: u64,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe {
        update(config, |mut b| {
            let name = str_arg(name, "name")?;
            b.config_mut().set(name, value)?;
            Ok(b)
        })
    }
}

/// Reads the node option called `name` (see dipsea_config_set_option) into
/// `*out_value`: a count as is, a flag as 0 or 1, a duration in whole milliseconds.
/// On a fresh config (dipsea_config_default) this is the option's default.
///
/// Ownership: `name` is borrowed for the call. Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config`, `name` or `out_value` is
/// NULL; DIPSEA_BAD_INPUT if no option has that name.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_get_option(
    config: *const dipsea_config,
    name: *const c_char,
    out_value: *mut u64,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a live config, by this function's contract.
        let config = unsafe { arg(config, "config") }?;
        // SAFETY: NULL or a NUL-terminated string, by this function's contract.
        let name = unsafe { str_arg(name, "name") }?;
        let out_value = out(out_value, "out_value")?;
        let value = config.builder.config_ref().get(name)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_value, value) };
        Ok(())
    })
}
