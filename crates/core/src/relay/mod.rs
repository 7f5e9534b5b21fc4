//! The relay policy (SPEC §3, §4), pure: relay-list entries are parsed,
//! compiled into a first-match interval table, and asked about one client at a
//! time. DNS answers come in as data; nothing here does I/O.
//!
//! SKELETON: filled in by the relay work.
