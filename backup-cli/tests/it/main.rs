//! End-to-end tests of the `pbi-backup` binary against a simulated tenant (pbi-sim plus DFS emulators on
//! 127.0.0.1): every command with `--json` decoded into backup-core's report types, every exit code, a bulk run of
//! 200 datasets and prune over a synthetic history of 400 backups.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "test diagnostics")]

mod bulk;
mod commands;
mod contracts;
mod definitions;
mod drills;
mod exit_codes;
mod flows;
mod kills;
mod nothing_lost;
mod overlap;
mod profiles;
mod prune;
mod restore;
mod run;
mod sign_in;
mod storage_accounts;
mod support;
mod tls;
mod verified;
