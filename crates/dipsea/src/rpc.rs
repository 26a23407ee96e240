//! Answering side of KRPC: write tokens and the query answerer.

pub mod answer;
pub mod sampling;
pub mod signature;
pub mod token;

pub use answer::{answer, Answered, Context, Refusal, MAX_PEERS_PER_REPLY, MAX_REPLY_LEN};
pub use sampling::{SampleLimiter, MAX_SAMPLES, SAMPLE_INTERVAL};
