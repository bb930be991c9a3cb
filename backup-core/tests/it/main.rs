//! Integration tests of backup-core against the simulated tenant (pbi-sim and the DFS emulator on loopback).

mod errors;
mod ops;
mod support;
mod xmla_client;
