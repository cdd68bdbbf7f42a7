//! Integration tests, in one binary (one link instead of one per file):
//! the real `auditship` binary against the real local stack (`common`),
//! one module per area. `soak` is long; CI runs it briefly.

mod common;

mod accounts;
mod backfill;
mod bad_input;
mod cli;
mod deploy;
mod discover_moto;
mod doctor;
mod events;
mod evidence;
mod faults;
mod object_lock;
mod operator;
mod process;
mod ship;
mod soak;
mod transfer;
