#!/usr/bin/env python3
"""A libtorrent DHT node driven over stdin/stdout, for dipsea's interop test.

Started by tests/interop_libtorrent.rs. It opens a libtorrent session whose only
job is the DHT, listening on 127.0.0.1 (port chosen by the OS), with the
restrictions that keep loopback nodes out of libtorrent's DHT lifted. Then it
prints one JSON line

    {"event": "ready", "port": <UDP port of the DHT>, "version": "<libtorrent version>"}

and answers commands, one JSON object per line on stdin, with one JSON object per
line on stdout: {"ok": true, ...} or {"ok": false, "error": "..."}. Every wait is
bounded by the command's "timeout" (seconds). Byte strings travel as hex.

    {"cmd": "bootstrap", "routers": ["127.0.0.1:6881", ...], "timeout": 20}
        (starts the DHT, waits until its bootstrap lookup ends)
    {"cmd": "wait_nodes", "min": 8, "timeout": 20}
        -> {"id": libtorrent's node id, "nodes": n, "live": [[id, "ip:port"], ...]}
    {"cmd": "put", "bencoded": hex, "timeout": 20}    -> {"target": hex, "num_success": n}
    {"cmd": "get", "target": hex, "timeout": 20}      -> {"found": bool, "bencoded": hex}
        (found: the item's bencoding hashes to the target; libtorrent reports a
        miss as an empty item)
    {"cmd": "put_mutable", "seed": hex, "public_key": hex, "value": hex, "salt": hex,
     "timeout": 20}                 -> {"seq": n, "signature": hex, "num_success": n}
        (a BEP 44 mutable item whose value is the byte string "value"; libtorrent
        signs it with the ed25519 key of the 32-byte "seed", and takes one more than
        the highest sequence number its lookup found)
    {"cmd": "get_mutable", "public_key": hex, "salt": hex, "timeout": 20}
        -> {"found": bool, "bencoded": hex, "seq": n, "signature": hex}
        (the authoritative answer: the highest seq libtorrent's lookup found)
    {"cmd": "announce", "info_hash": hex, "port": p, "implied_port": bool}
                                                      -> {} (started, not finished)
    {"cmd": "get_peers", "info_hash": hex, "want": ["ip:port", ...], "timeout": 20}
        -> {"peers": ["ip:port", ...], "replies": n} (all peers gathered once every
        wanted one is seen, or at the timeout)
    {"cmd": "quit"}

The process exits when stdin closes, so it never outlives the test. Diagnostics go
to stderr; with LT_PEER_DEBUG=1 every DHT packet libtorrent sends or receives is
logged there too (the test prints stderr when it fails, and always when
LT_PEER_DEBUG is set). LT_PEER_SETTINGS='{"name": value, ...}' overrides settings,
for experiments.
"""

import hashlib
import json
import os
import sys
import time

import libtorrent as lt

DEBUG = os.environ.get("LT_PEER_DEBUG", "") not in ("", "0")
STARTED = time.monotonic()


def log(*args):
    elapsed = time.monotonic() - STARTED
    print(f"lt_peer [{elapsed:7.3f}s]", *args, file=sys.stderr, flush=True)


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def settings():
    cat = lt.alert.category_t
    mask = (
        cat.dht_notification
        | cat.dht_operation_notification
        | cat.error_notification
        | cat.status_notification
    )
    if DEBUG:
        mask |= cat.dht_log_notification
    return {
        # The DHT starts with the "bootstrap" command, once the listen socket is up:
        # libtorrent bootstraps from its routers only when its DHT starts, and needs
        # a UDP socket (an explicit listen IP) to send from.
        "enable_dht": False,
        "listen_interfaces": "127.0.0.1:0",
        # No public bootstrap routers, no local discovery or port mapping.
        "dht_bootstrap_nodes": "",
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_tcp": False,
        "enable_outgoing_tcp": False,
        # Every dipsea node shares 127.0.0.1. By default libtorrent keeps one node
        # per IP in its routing table (with 2.1.1 the test fails without this one)
        # and in each lookup's results.
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        # Loopback ids are not BEP 42 ids of an external address, and loopback is
        # no public address: neither prefer nor require verified ids, don't ignore
        # "dark" addresses. (2.1.1 passes with these at their defaults; lifted so a
        # libtorrent that tightens them still tests the protocol, not the policy.)
        "dht_prefer_verified_node_ids": False,
        "dht_enforce_node_id": False,
        "dht_ignore_dark_internet": False,
        # All queries come from one IP: lift the per-IP rate limit (default 5
        # packets/s, then the IP is blocked for 5 minutes; with it the test fails)
        # and the 8000 B/s DHT upload cap (with it lookups slow down).
        "dht_block_ratelimit": 1_000_000,
        "dht_block_timeout": 1,
        "dht_upload_rate_limit": 100_000_000,
        "alert_mask": mask,
        "alert_queue_size": 100_000,
    }


def lt_secret_key(seed):
    """libtorrent's 64-byte ed25519 secret key of a 32-byte RFC 8032 seed: SHA-512 of
    the seed with the scalar half clamped (the orlp/ed25519 format libtorrent uses)."""
    if len(seed) != 32:
        raise ValueError("a seed is 32 bytes")
    h = bytearray(hashlib.sha512(seed).digest())
    h[0] &= 248
    h[31] &= 63
    h[31] |= 64
    return bytes(h)


class Peer:
    def __init__(self):
        pack = settings()
        # For experiments: LT_PEER_SETTINGS='{"dht_restrict_routing_ips": true}'.
        pack.update(json.loads(os.environ.get("LT_PEER_SETTINGS", "{}")))
        self.ses = lt.session(pack)
        self.pending = []  # alerts popped but not consumed yet

    def pump(self, wait=0.05):
        """Pops the queued alerts into self.pending; logs the diagnostic ones."""
        self.ses.wait_for_alert(int(wait * 1000))
        for a in self.ses.pop_alerts():
            if isinstance(a, lt.dht_pkt_alert):
                if DEBUG:
                    log("pkt", a.message())
                continue
            if isinstance(a, lt.dht_log_alert):
                if DEBUG:
                    log("dht", a.message())
                continue
            if a.category() & lt.alert.category_t.error_notification:
                log("error alert:", type(a).__name__, a.message())
            self.pending.append(a)

    def wait_for(self, pred, timeout):
        """The first pending alert that satisfies pred, or None after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            for i, a in enumerate(self.pending):
                if pred(a):
                    return self.pending.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.pump(min(left, 0.1))

    def start(self, timeout=10):
        """Waits for the UDP listen socket; returns its port."""
        a = self.wait_for(
            lambda a: isinstance(a, lt.listen_succeeded_alert)
            and a.socket_type == lt.socket_type_t.udp,
            timeout,
        )
        if a is None:
            raise RuntimeError("libtorrent did not open its UDP socket")
        return a.port

    def drop_stale(self):
        """Forgets unconsumed alerts so one command's leftovers don't answer the next."""
        self.pump(0)
        self.pending = [a for a in self.pending if isinstance(a, lt.listen_succeeded_alert)]

    # Commands.

    def cmd_bootstrap(self, c):
        # Routers seed libtorrent's bootstrap lookup (a find_node of its own id) but
        # never enter its routing table; the nodes the lookup meets do.
        self.ses.apply_settings(
            {"dht_bootstrap_nodes": ",".join(c["routers"]), "enable_dht": True}
        )
        a = self.wait_for(lambda a: isinstance(a, lt.dht_bootstrap_alert), c["timeout"])
        if a is None:
            raise RuntimeError("no dht_bootstrap_alert before the timeout")
        if not self.ses.is_dht_running():
            raise RuntimeError("libtorrent's DHT is not running")
        return {}

    def own_id(self):
        """The DHT node id libtorrent uses now (it may change it on learning its
        external address); read from the saved session state, where each entry of
        "node-id" is the 20-byte id followed by the address it is for."""
        state = lt.bdecode(lt.write_session_params_buf(self.ses.session_state()))
        ids = state[b"dht state"][b"node-id"]
        if not ids:
            raise RuntimeError("libtorrent's DHT has no node id")
        return ids[0][:20]

    def live_nodes(self, timeout):
        """libtorrent's id and the [id, "ip:port"] of each node in its routing table."""
        own = self.own_id()
        self.ses.dht_live_nodes(lt.sha1_hash(own))
        a = self.wait_for(lambda a: isinstance(a, lt.dht_live_nodes_alert), timeout)
        if a is None:
            return own.hex(), []
        out = []
        for n in a.nodes:
            # Each entry is a dict {"nid": sha1_hash, "endpoint": (ip, port)}.
            ip, port = n["endpoint"]
            out.append([n["nid"].to_bytes().hex(), f"{ip}:{port}"])
        return own.hex(), out

    def cmd_wait_nodes(self, c):
        deadline = time.monotonic() + c["timeout"]
        while True:
            own, live = self.live_nodes(min(2.0, max(0.1, deadline - time.monotonic())))
            log(f"wait_nodes: {len(live)} nodes in the routing table")
            if len(live) >= c["min"] or time.monotonic() >= deadline:
                return {"id": own, "nodes": len(live), "live": live}
            time.sleep(0.2)

    def cmd_put(self, c):
        # The value arrives bencoded, so it can be any bencoded type.
        value = lt.bdecode(bytes.fromhex(c["bencoded"]))
        if value is None:
            raise ValueError("the value is not valid bencoding")
        target = self.ses.dht_put_immutable_item(value)
        a = self.wait_for(
            lambda a: isinstance(a, lt.dht_put_alert) and a.target == target,
            c["timeout"],
        )
        if a is None:
            raise RuntimeError("no dht_put_alert before the timeout")
        return {"target": target.to_bytes().hex(), "num_success": a.num_success}

    def cmd_get(self, c):
        target = lt.sha1_hash(bytes.fromhex(c["target"]))
        self.ses.dht_get_immutable_item(target)
        a = self.wait_for(
            lambda a: isinstance(a, lt.dht_immutable_item_alert) and a.target == target,
            c["timeout"],
        )
        if a is None:
            raise RuntimeError("no dht_immutable_item_alert before the timeout")
        encoded = bytes(lt.bencode(a.item))
        found = hashlib.sha1(encoded).digest() == target.to_bytes()
        return {"found": found, "bencoded": encoded.hex()}

    def cmd_put_mutable(self, c):
        public_key = bytes.fromhex(c["public_key"])
        salt = bytes.fromhex(c.get("salt", ""))
        # The binding signs the value as a bencoded byte string and bumps the
        # sequence number past the highest its lookup saw.
        self.ses.dht_put_mutable_item(
            lt_secret_key(bytes.fromhex(c["seed"])),
            public_key,
            bytes.fromhex(c["value"]),
            salt,
        )
        a = self.wait_for(
            lambda a: isinstance(a, lt.dht_put_alert)
            and bytes(a.public_key) == public_key
            and bytes(a.salt) == salt,
            c["timeout"],
        )
        if a is None:
            raise RuntimeError("no dht_put_alert before the timeout")
        return {
            "seq": a.seq,
            "signature": bytes(a.signature).hex(),
            "num_success": a.num_success,
        }

    def cmd_get_mutable(self, c):
        # libtorrent posts a dht_mutable_item_alert for the first verified answer and
        # an authoritative one when its lookup ends (with an empty item if none).
        public_key = bytes.fromhex(c["public_key"])
        salt = bytes.fromhex(c.get("salt", ""))
        self.ses.dht_get_mutable_item(public_key, salt)
        deadline = time.monotonic() + c["timeout"]
        best = None
        while time.monotonic() < deadline:
            a = self.wait_for(
                lambda a: isinstance(a, lt.dht_mutable_item_alert)
                and bytes(a.key) == public_key
                and bytes(a.salt) == salt,
                max(0.0, deadline - time.monotonic()),
            )
            if a is None:
                break
            best = a
            if a.authoritative:
                break
        if best is None:
            raise RuntimeError("no dht_mutable_item_alert before the timeout")
        encoded = bytes(lt.bencode(best.item))
        found = best.seq > 0 or encoded not in (b"", b"0:")
        return {
            "found": found,
            "authoritative": best.authoritative,
            "bencoded": encoded.hex(),
            "seq": best.seq,
            "signature": bytes(best.signature).hex(),
        }

    def cmd_get_peers(self, c):
        # libtorrent posts one dht_get_peers_reply_alert per answer that carries
        # values, and none when the lookup ends: gather them until every peer in
        # "want" is seen or the timeout passes, then report what was gathered.
        info_hash = lt.sha1_hash(bytes.fromhex(c["info_hash"]))
        want = set(c.get("want", []))
        self.ses.dht_get_peers(info_hash)
        deadline = time.monotonic() + c["timeout"]
        peers = set()
        replies = 0
        while time.monotonic() < deadline and not (want and want <= peers):
            a = self.wait_for(
                lambda a: isinstance(a, lt.dht_get_peers_reply_alert)
                and a.info_hash == info_hash,
                max(0.0, deadline - time.monotonic()),
            )
            if a is None:
                break
            replies += 1
            peers.update(f"{ip}:{port}" for ip, port in a.peers())
        return {"peers": sorted(peers), "replies": replies}

    def cmd_announce(self, c):
        info_hash = lt.sha1_hash(bytes.fromhex(c["info_hash"]))
        flags = lt.announce_flags_t.implied_port if c.get("implied_port") else 0
        # A get_peers lookup, then announce_peer to the closest nodes that gave a
        # token. libtorrent posts no alert when it ends: the test polls the other side.
        self.ses.dht_announce(info_hash, c["port"], flags)
        return {}


def main():
    peer = Peer()
    port = peer.start()
    reply({"event": "ready", "port": port, "version": lt.__version__})
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            c = json.loads(line)
            name = c["cmd"]
            if name == "quit":
                reply({"ok": True})
                break
            handler = getattr(peer, "cmd_" + name, None)
            if handler is None:
                raise ValueError(f"unknown command {name!r}")
            peer.drop_stale()
            out = handler(c)
            out["ok"] = True
            reply(out)
        except Exception as e:  # report every failure to the test, keep serving
            log("command failed:", line, repr(e))
            reply({"ok": False, "error": f"{type(e).__name__}: {e}"})
    # stdin closed or quit: leave without waiting on libtorrent's shutdown.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
