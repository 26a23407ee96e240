//! Answering side of KRPC: write tokens and the query answerer.

pub mod token;
