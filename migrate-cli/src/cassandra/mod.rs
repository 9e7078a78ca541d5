//! Cassandra/Aiven targets: target DDL, loading over CQL, verification.

pub mod cli;
pub mod ddl;
pub mod load;
pub mod session;
pub mod verify;
