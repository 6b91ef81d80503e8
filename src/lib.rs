//! Ember: a Prometheus-compatible monitoring stack as a set of Rust crates.
//!
//! This facade re-exports the workspace's library crates under one name, so
//! a program can depend on `ember` alone and reach every part:
//!
//! | module | crate | what it holds |
//! |---|---|---|
//! | [`model`] | `ember-model` | labels, matchers, durations, samples, metadata |
//! | [`storage`] | `ember-storage` | the Appender/Querier seam, merging, an in-memory store |
//! | [`exposition`] | `ember-exposition` | text 0.0.4 and OpenMetrics 1.0 parsers and encoders |
//! | [`chunks`] | `ember-chunks` | Gorilla XOR chunks, bit-compatible with Prometheus |
//! | [`index`] | `ember-index` | the inverted label index: Prometheus' index format, roaring postings |
//! | [`promql`] | `ember-promql` | PromQL parser and evaluator with Prometheus 3 semantics |
//! | [`tsdb`] | `ember-tsdb` | blocks in Prometheus' on-disk format, backfill, dump and analysis |
//!
//! The `ember` binary built from this package is the reference server and
//! its tools (`ember check metrics`, ...), with Prometheus' flag names.
#![deny(missing_docs)]

pub use ember_chunks as chunks;
pub use ember_exposition as exposition;
pub use ember_index as index;
pub use ember_model as model;
pub use ember_promql as promql;
pub use ember_storage as storage;
pub use ember_tsdb as tsdb;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
