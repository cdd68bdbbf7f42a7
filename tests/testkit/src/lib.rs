//! The auditship test rig as a library: the types its servers take on their
//! control endpoints, so tests build faults as values rather than JSON
//! strings. The servers themselves are the `auditship-testkit` binary.

pub mod faults;
