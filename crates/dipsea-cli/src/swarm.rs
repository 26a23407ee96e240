//! `dipsea swarm`: the simulator end to end (waiting for `dipsea::sim`).

use crate::{Failure, Outcome, SwarmArgs};

/// Runs `dipsea swarm`.
pub fn run(_args: SwarmArgs) -> Outcome {
    Err(Failure::failed(
        "the simulator is not available in this build yet",
    ))
}
