//! Windows of events run on several threads, with the same result on any number.
//!
//! A datagram takes at least the model's shortest link latency `W` to arrive
//! ([`Latency::min_ms`]), so nothing a node does at time `t` reaches another node
//! before `t + W`: the deliveries and ticks due in `[t0, t0 + W)` do not depend on
//! each other across nodes. [`Swarm::step`] takes every such event of one window off
//! the queue in (time, sequence) order and hands them to [`SwarmConfig::threads`]
//! lanes by node (each node's events stay in order in one lane). The lanes run on
//! scoped threads; each checks its deliveries' reachability and its ticks'
//! currency and calls its nodes. Then the calling thread applies what each call
//! sent and reported in the window's order: datagrams get their loss draw and
//! latency, finished operations their bookkeeping, nodes their next tick. Which
//! lane ran a call changes nothing, and the generator is only drawn on the calling
//! thread, so a run gives the same result on one thread or eight.
//!
//! Two things differ from taking one event at a time, so that no node's clock goes
//! back: a tick asked for inside the window runs at the window's last millisecond
//! at the earliest (after the node's later events of the window), and the calls the
//! bookkeeping makes (the next operation of a batch, a join tried again) run at that
//! millisecond. Churn and scheduled actions end a window and run alone. With a
//! shortest latency of zero (the long-tail model), events run one at a time.
//!
//! [`Latency::min_ms`]: super::Latency::min_ms
//! [`SwarmConfig::threads`]: super::SwarmConfig::threads

use std::net::SocketAddr;

use super::flight::Flight;
use super::{node_addr, Kind, Meta, State, Swarm};
use crate::node::{Event, Node, Output};
use crate::time::Time;

/// Fewer events than this in a window run on the calling thread: starting a
/// worker costs more than they take.
const PARALLEL_MIN: usize = 64;

/// One event of a window for node `node` at `at`: a delivery from `from`, or a
/// tick (`from == TICK`).
#[derive(Clone, Copy, Debug)]
struct Work {
    node: u32,
    at: u64,
    from: u32,
    /// The flight slot of a delivery; the sequence number of a tick.
    tag: u64,
}

const TICK: u32 = u32::MAX;

/// What became of one event in its lane.
#[derive(Clone, Copy, Debug)]
enum Called {
    /// The node was called: how many datagrams and events the call added to the
    /// lane's output, and when the node wants its next tick.
    Ran {
        datagrams: u32,
        events: u32,
        deadline: u64,
    },
    /// A datagram that did not reach its node (down, or across a partition).
    Lost,
    /// Nothing to do: a tick superseded by a later one, or a node gone.
    Skipped,
}

/// One lane's share of a window and what its calls gave, reused window after
/// window.
#[derive(Debug, Default)]
pub(super) struct Lane {
    work: Vec<Work>,
    called: Vec<Called>,
    out: Output,
}

impl Lane {
    /// Runs this lane's events in order, each call's output appended to `out`.
    fn run(&mut self, nodes: &[Option<Box<Node>>], meta: &[Meta], flight: &Flight) {
        self.called.clear();
        self.out.clear();
        for &w in &self.work {
            let called = match nodes.get(w.node as usize).and_then(|n| n.as_deref()) {
                _ if w.from != TICK && !reachable(meta, w.from, w.node) => Called::Lost,
                _ if w.from == TICK && !current_tick(meta, w.node, w.tag) => Called::Skipped,
                None => Called::Skipped,
                Some(node) => {
                    let before = (self.out.datagram_count(), self.out.events.len());
                    let now = Time::from_millis(w.at);
                    if w.from == TICK {
                        node.tick(now, &mut self.out);
                    } else {
                        let data = flight.bytes(w.tag as u32);
                        node.handle_datagram(node_addr(w.from as usize), data, now, &mut self.out);
                    }
                    Called::Ran {
                        datagrams: (self.out.datagram_count() - before.0) as u32,
                        events: (self.out.events.len() - before.1) as u32,
                        deadline: next_tick(node, now, w.from == TICK),
                    }
                }
            };
            self.called.push(called);
        }
    }
}

/// Whether a datagram from `from` reaches `to`: `to` is up, and no partition is
/// between them.
pub(super) fn reachable(meta: &[Meta], from: u32, to: u32) -> bool {
    match (meta.get(from as usize), meta.get(to as usize)) {
        (Some(a), Some(b)) => b.state != State::Down && a.group == b.group,
        _ => false,
    }
}

/// Whether the tick of sequence number `seq` is node `node`'s scheduled one (a
/// later call may have scheduled another) and the node is up.
pub(super) fn current_tick(meta: &[Meta], node: u32, seq: u64) -> bool {
    meta.get(node as usize)
        .is_some_and(|m| m.tick_seq == seq && m.state != State::Down)
}

/// When node `node`, just called at `now`, wants its next tick: its deadline, and
/// after a tick that wants another at once, one millisecond later (it would spin
/// the clock in place otherwise).
pub(super) fn next_tick(node: &Node, now: Time, ticked: bool) -> u64 {
    let deadline = node.next_deadline().max(now).as_millis();
    if ticked && deadline <= now.as_millis() {
        now.as_millis() + 1
    } else {
        deadline
    }
}

impl Swarm {
    /// Runs the next window of events due at `limit` or before (see the module
    /// docs); false if there is none.
    pub(super) fn step_window(&mut self, limit: u64) -> bool {
        let Some(t0) = self.queue.peek_at().filter(|&at| at <= limit) else {
            return false;
        };
        let end = t0
            .saturating_add(self.window_ms)
            .min(limit.saturating_add(1));
        // Validated: 1 to 64, so a lane's index fits `order`'s bytes.
        let threads = self.config.threads;
        let mut lanes = std::mem::take(&mut self.lanes);
        lanes.resize_with(threads, Lane::default);
        for lane in &mut lanes {
            lane.work.clear();
        }
        // The lane of each event of the window, in order.
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        let mut alone = None;
        while self.queue.peek_at().is_some_and(|at| at < end) {
            let Some(event) = self.queue.pop() else {
                break;
            };
            let work = match event.item {
                Kind::Deliver { from, to, buf } => Work {
                    node: to,
                    at: event.at,
                    from,
                    tag: u64::from(buf),
                },
                Kind::Tick { node } => Work {
                    node,
                    at: event.at,
                    from: TICK,
                    tag: event.seq,
                },
                // Churn and actions change the network: they run alone, in order.
                Kind::Depart { .. } | Kind::Action { .. } => {
                    alone = Some(event);
                    break;
                }
            };
            let lane = work.node as usize % threads;
            lanes[lane].work.push(work);
            order.push(lane as u8);
        }
        if let Some(&last) = order.last() {
            let last = lanes[usize::from(last)].work.last().map_or(t0, |w| w.at);
            self.run_lanes(&mut lanes, &order, last);
        }
        (self.lanes, self.order) = (lanes, order);
        if let Some(event) = alone {
            self.run_event(event);
        }
        true
    }

    /// Runs the lanes' events (on worker threads when there are enough), then
    /// applies what the calls gave in the window's `order` (each event's lane);
    /// `last` is the time of the window's last event.
    fn run_lanes(&mut self, lanes: &mut [Lane], order: &[u8], last: u64) {
        let (nodes, meta, flight) = (&self.nodes, &self.meta, &self.flight);
        if order.len() >= PARALLEL_MIN && lanes.len() > 1 {
            std::thread::scope(|s| {
                let (first, rest) = lanes.split_first_mut().expect("at least one lane");
                for lane in rest {
                    s.spawn(move || lane.run(nodes, meta, flight));
                }
                first.run(nodes, meta, flight);
            });
        } else {
            for lane in lanes.iter_mut() {
                lane.run(nodes, meta, flight);
            }
        }
        self.window_last = last;
        self.apply_calls(lanes, order);
        self.window_last = 0;
    }

    /// Applies the calls' outputs, event by event in the window's order.
    fn apply_calls(&mut self, lanes: &mut [Lane], order: &[u8]) {
        // Per lane: the next event, and the next datagram.
        let mut cursors = vec![(0usize, 0usize); lanes.len()];
        let mut sends: Vec<Vec<(SocketAddr, &[u8])>> = Vec::with_capacity(lanes.len());
        let mut events: Vec<std::vec::IntoIter<Event>> = Vec::with_capacity(lanes.len());
        let mut views: Vec<(&[Work], &[Called])> = Vec::with_capacity(lanes.len());
        for lane in lanes.iter_mut() {
            events.push(std::mem::take(&mut lane.out.events).into_iter());
            let Lane { work, called, out } = lane;
            sends.push(out.datagrams().collect());
            views.push((work, called));
        }
        let mut reported: Vec<Event> = Vec::new();
        for &lane in order {
            let lane = usize::from(lane);
            let (next, sent) = cursors[lane];
            let (work, called) = (views[lane].0[next], views[lane].1[next]);
            cursors[lane].0 += 1;
            self.now = self.now.max(Time::from_millis(work.at));
            let delivery = work.from != TICK;
            match called {
                Called::Lost => self.packets_lost += 1,
                Called::Skipped => {}
                Called::Ran {
                    datagrams,
                    events: count,
                    deadline,
                } => {
                    cursors[lane].1 += datagrams as usize;
                    if delivery {
                        self.tracker.set_sender(Some(work.from));
                    } else if let Some(meta) = self.meta.get_mut(work.node as usize) {
                        // This tick ran: the node has none scheduled until it asks.
                        meta.tick_at = u64::MAX;
                    }
                    let datagrams = sends[lane][sent..sent + datagrams as usize].iter().copied();
                    reported.extend(events[lane].by_ref().take(count as usize));
                    let now = Time::from_millis(work.at);
                    self.after_call(work.node, now, datagrams, &mut reported, deadline);
                    if delivery {
                        self.tracker.set_sender(None);
                    }
                }
            }
            if delivery {
                self.flight.release(work.tag as u32);
            }
        }
    }
}
