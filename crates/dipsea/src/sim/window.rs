//! Windows of events run on several threads, with the same result on any number.
//!
//! A datagram takes at least the model's shortest link latency `W` to arrive
//! ([`Latency::min`]), so nothing a node does at time `t` reaches another node before
//! `t + W`: the deliveries and ticks due in `[t0, t0 + W)` do not depend on each
//! other across nodes. [`Swarm::step`] takes every such event of one window off the
//! queue in (time, sequence) order, hands them to [`SwarmConfig::threads`] workers by
//! node (each node's events stay in order on one worker), and then applies what each
//! call sent and reported in the window's order, on the calling thread: datagrams
//! get their loss draw and latency, finished operations their bookkeeping, nodes
//! their next tick. Which worker ran a call changes nothing, so a run gives the same
//! result on one thread or eight.
//!
//! Two things differ from taking one event at a time. A tick a call asks for inside
//! the window runs after the node's later events of the window (at their time: a
//! node's clock never goes back; `Meta::last_at`). A call the bookkeeping makes
//! (the next operation of a batch, a join tried again) runs at the window's event
//! time, or the node's last event time if that is later. With a shortest latency of
//! zero (a long-tail model), windows are one event each, as before.
//!
//! [`Latency::min`]: super::Latency::min
//! [`SwarmConfig::threads`]: super::SwarmConfig::threads

use std::net::SocketAddr;

use super::{node_addr, Kind, State, Swarm};
use crate::node::{Event, Node, Output};
use crate::time::Time;

/// Fewer events than this in a window run on the calling thread: starting a
/// worker costs more than they take.
const PARALLEL_MIN: usize = 64;

/// One event of a window: a delivery (from `from`, bytes in pool slot `buf`) or a
/// tick (`from == u32::MAX`) of node `node` at `at`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Work {
    node: u32,
    at: u64,
    from: u32,
    buf: u32,
}

const TICK: u32 = u32::MAX;

/// What one call gave: how many datagrams and events it added to its worker's
/// output, and when the node wants its next tick (`u64::MAX`: no call was made).
#[derive(Clone, Copy, Debug)]
struct Called {
    datagrams: u32,
    events: u32,
    deadline: u64,
}

impl Default for Called {
    fn default() -> Self {
        Called {
            datagrams: 0,
            events: 0,
            deadline: u64::MAX,
        }
    }
}

/// One worker's share of a window and what its calls gave, reused window after
/// window.
#[derive(Debug, Default)]
pub(super) struct Lane {
    work: Vec<Work>,
    called: Vec<Called>,
    out: Output,
}

impl Lane {
    /// Runs this lane's events in order, each call's output appended to `out`; a
    /// node gone gives nothing.
    fn run(&mut self, nodes: &[Option<Box<Node>>], pool: &[Vec<u8>]) {
        self.called.clear();
        self.out.clear();
        for &w in &self.work {
            let Some(node) = nodes.get(w.node as usize).and_then(|n| n.as_deref()) else {
                self.called.push(Called::default());
                continue;
            };
            let (datagrams, events) = (self.out.datagram_count(), self.out.events.len());
            let now = Time::from_millis(w.at);
            if w.from == TICK {
                node.tick(now, &mut self.out);
            } else {
                let data = &pool[w.buf as usize];
                node.handle_datagram(node_addr(w.from as usize), data, now, &mut self.out);
            }
            self.called.push(Called {
                datagrams: (self.out.datagram_count() - datagrams) as u32,
                events: (self.out.events.len() - events) as u32,
                deadline: next_tick(node, now, w.from == TICK),
            });
        }
    }
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
        let end = t0.saturating_add(self.window_ms).min(limit.saturating_add(1));
        let mut lanes = std::mem::take(&mut self.lanes);
        let threads = self.config.threads.max(1);
        lanes.resize_with(threads, Lane::default);
        for lane in &mut lanes {
            lane.work.clear();
        }
        // The lane of each event of the window, in order.
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        while self.queue.peek_at().is_some_and(|at| at < end) {
            let Some(event) = self.queue.pop() else {
                break;
            };
            self.now = self.now.max(Time::from_millis(event.at));
            let work = match event.item {
                Kind::Deliver { from, to, buf } => {
                    if !self.reachable(from, to) {
                        self.packets_lost += 1;
                        self.free.push(buf);
                        continue;
                    }
                    Work { node: to, at: event.at, from, buf }
                }
                Kind::Tick { node } => {
                    let Some(meta) = self.meta.get_mut(node as usize) else {
                        continue;
                    };
                    if meta.tick_seq != event.seq || meta.state == State::Down {
                        continue; // superseded by an earlier tick
                    }
                    meta.tick_at = u64::MAX;
                    Work { node, at: event.at, from: TICK, buf: 0 }
                }
                // Churn and actions change the network: they run alone, in order.
                Kind::Depart { .. } | Kind::Action { .. } => {
                    self.run_lanes(&mut lanes, &order);
                    (self.lanes, self.order) = (lanes, order);
                    self.run_event(event);
                    return true;
                }
            };
            if let Some(meta) = self.meta.get_mut(work.node as usize) {
                meta.last_at = meta.last_at.max(work.at);
            }
            let lane = work.node as usize % threads;
            lanes[lane].work.push(work);
            order.push(lane as u8);
        }
        self.run_lanes(&mut lanes, &order);
        (self.lanes, self.order) = (lanes, order);
        true
    }

    /// Runs the lanes' events (on worker threads when there are enough), then
    /// applies what the calls gave in the window's `order` (each event's lane).
    fn run_lanes(&mut self, lanes: &mut [Lane], order: &[u8]) {
        if order.is_empty() {
            return;
        }
        let (nodes, pool) = (&self.nodes, &self.pool);
        if order.len() >= PARALLEL_MIN && lanes.len() > 1 {
            std::thread::scope(|s| {
                let (first, rest) = lanes.split_first_mut().expect("at least one lane");
                for lane in rest {
                    s.spawn(move || lane.run(nodes, pool));
                }
                first.run(nodes, pool);
            });
        } else {
            for lane in lanes.iter_mut() {
                lane.run(nodes, pool);
            }
        }
        self.apply_calls(lanes, order);
    }

    /// Applies the calls' outputs, event by event in the window's order.
    fn apply_calls(&mut self, lanes: &mut [Lane], order: &[u8]) {
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
        // Per lane (`cursors`): the next event, and the next datagram.
        for &lane in order {
            let lane = usize::from(lane);
            let (next, sent) = cursors[lane];
            let (work, c) = (views[lane].0[next], views[lane].1[next]);
            cursors[lane] = (next + 1, sent + c.datagrams as usize);
            let now = Time::from_millis(work.at);
            self.now = self.now.max(now);
            let delivery = work.from != TICK;
            if c.deadline != u64::MAX {
                if delivery {
                    self.tracker.set_sender(Some(work.from));
                }
                let datagrams = &sends[lane][sent..sent + c.datagrams as usize];
                let mut reported: Vec<Event> =
                    events[lane].by_ref().take(c.events as usize).collect();
                let datagrams = datagrams.iter().copied();
                self.after_call(work.node, now, datagrams, &mut reported, c.deadline);
                if delivery {
                    self.tracker.set_sender(None);
                }
            }
            if delivery {
                self.free.push(work.buf);
            }
        }
    }
}
