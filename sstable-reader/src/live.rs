//! What a `SELECT` would see in one sstable: which rows and cells are live
//! once partition, range, row and complex deletions and TTLs are applied.

use sstable_format::data::{Cell, ColumnData, DeletionTime, RangeTombstoneMarker, Row};

/// Deletion state while walking one partition.
#[derive(Debug, Clone, Copy)]
pub struct PartitionState {
    pub partition_deletion: DeletionTime,
    /// The range tombstone open at the current position.
    pub open_range: Option<DeletionTime>,
    /// "Now" in seconds since the epoch, for TTL expiry.
    pub now: i64,
}

/// A live column of a row.
#[derive(Debug, Clone)]
pub enum LiveColumn<'r, 'a> {
    Simple {
        column: usize,
        cell: &'r Cell<'a>,
    },
    Complex {
        column: usize,
        cells: Vec<&'r Cell<'a>>,
    },
}

impl LiveColumn<'_, '_> {
    pub fn column(&self) -> usize {
        match self {
            LiveColumn::Simple { column, .. } | LiveColumn::Complex { column, .. } => *column,
        }
    }
}

/// The live view of a row.
#[derive(Debug, Clone)]
pub struct LiveRow<'r, 'a> {
    pub row: &'r Row<'a>,
    /// The row's own primary-key liveness is live.
    pub marker_live: bool,
    pub columns: Vec<LiveColumn<'r, 'a>>,
}

impl LiveRow<'_, '_> {
    /// Would a SELECT return this row?
    pub fn is_live(&self) -> bool {
        self.marker_live || !self.columns.is_empty()
    }
}

fn newer(a: DeletionTime, b: DeletionTime) -> DeletionTime {
    if a.is_live() {
        return b;
    }
    if b.is_live() || a.marked_for_delete_at >= b.marked_for_delete_at {
        a
    } else {
        b
    }
}

impl PartitionState {
    pub fn new(partition_deletion: DeletionTime, now: i64) -> Self {
        PartitionState {
            partition_deletion,
            open_range: None,
            now,
        }
    }

    /// Track range tombstones as markers pass.
    pub fn on_marker(&mut self, m: &RangeTombstoneMarker) {
        self.open_range = m.open_deletion();
    }

    /// Apply deletions and expiry to `row`.
    pub fn live<'r, 'a>(&self, row: &'r Row<'a>) -> LiveRow<'r, 'a> {
        let mut del = newer(self.partition_deletion, row.deletion);
        if !row.is_static {
            if let Some(rt) = self.open_range {
                del = newer(del, rt);
            }
        }
        let marker_live = row.liveness.is_live(self.now)
            && row.liveness.timestamp.is_some_and(|ts| !del.deletes(ts));
        let cell_live = |c: &Cell, d: DeletionTime| c.is_live(self.now) && !d.deletes(c.timestamp);
        let mut columns = Vec::with_capacity(row.columns.len());
        for cd in &row.columns {
            match cd {
                ColumnData::Simple { column, cell } => {
                    if cell_live(cell, del) {
                        columns.push(LiveColumn::Simple {
                            column: *column,
                            cell,
                        });
                    }
                }
                ColumnData::Complex {
                    column,
                    deletion,
                    cells,
                } => {
                    let d = newer(del, *deletion);
                    let live: Vec<&Cell> = cells.iter().filter(|c| cell_live(c, d)).collect();
                    if !live.is_empty() {
                        columns.push(LiveColumn::Complex {
                            column: *column,
                            cells: live,
                        });
                    }
                }
            }
        }
        LiveRow {
            row,
            marker_live,
            columns,
        }
    }
}
