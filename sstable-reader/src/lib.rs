//! # sstable-reader
//!
//! Files and data on top of [`sstable_format`]: discovers sstables in data
//! directories and snapshots, memory-maps them, resolves schemas and scans
//! partitions, rows and cells lazily.
//!
//! ```no_run
//! use sstable_reader::{SSTable, Scanner, ScanOptions};
//! use sstable_format::data::Unfiltered;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sst = SSTable::open("ks/tbl-0123/nb-1-big-Data.db".as_ref())?;
//! let mut scan = Scanner::new(&sst, ScanOptions::default());
//! while let Some(p) = scan.next_partition()? {
//!     println!("partition of {} key bytes at {}", p.key.len(), p.position);
//!     while let Some(u) = scan.next_unfiltered()? {
//!         if let Unfiltered::Row(row) = u {
//!             println!("  row with {} columns", row.columns.len());
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod ddl;
pub mod discover;
pub mod error;
pub mod legacy;
pub mod live;
pub mod merge;
pub mod mmap;
pub mod range;
pub mod scanner;
pub mod schema;
pub mod sstable;
pub mod system_schema;
pub mod table;
pub mod verify;

pub use discover::{discover, discover_all, Discovered, TableGroup};
pub use error::{ReadError, Result};
pub use scanner::{PartitionRef, PartitionStart, ScanOptions, Scanner};
pub use schema::TableSchema;
pub use sstable::SSTable;
pub use sstable_format::data::RowBuffers;
