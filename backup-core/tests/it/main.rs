//! Integration tests of backup-core against the simulated tenant (pbi-sim and the DFS emulator on loopback).

mod support;
mod xmla_client;
