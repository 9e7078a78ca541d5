//! The `sstable-migrate` command and its sinks.

pub mod app;
pub mod cassandra;
pub mod dynamo;
pub mod jackson;
pub mod literal;
pub mod render;
pub mod sstables;
