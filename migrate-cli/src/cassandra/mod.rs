//! Cassandra/Aiven targets: target DDL, and loading over CQL.

pub mod ddl;
