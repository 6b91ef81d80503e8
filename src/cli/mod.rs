//! The subcommands of the `ember` binary.

pub mod check;
pub mod tsdb;
