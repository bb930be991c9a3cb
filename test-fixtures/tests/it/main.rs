//! Tests of the simulators as a client sees them: raw HTTP, as real tools send it.

mod arm;
mod contracts;
mod pbi_sim;
