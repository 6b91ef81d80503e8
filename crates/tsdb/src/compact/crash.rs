//! Simulated crashes, for the crash-safety tests.
//!
//! Every step of compaction, deletion and tombstone cleaning that changes
//! the data directory passes a [`Step`] to [`Crash::point`]. In tests a
//! [`Crash`] can be armed to fail at one step with an error that the code
//! treats as the process dying there: no clean-up (temporary directories
//! stay, nothing is marked failed). Outside tests `point` always succeeds
//! and compiles to nothing.

use crate::error::TsdbError;

/// A step after which a crash leaves a distinct state on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum Step {
    /// The new block's chunks are written in its temporary directory; the
    /// index is not.
    ChunksWritten,
    /// The new block is complete and synced in its temporary directory.
    BlockSynced,
    /// The new block has its final name; the source blocks are untouched.
    BlockRenamed,
    /// A block being deleted has been renamed to `.tmp-for-deletion`.
    RenamedForDeletion,
    /// The first of several blocks being deleted is gone.
    OneDeleted,
    /// An empty compaction marked the first source block deletable.
    MarkedDeletable,
    /// A deletion wrote a block's new tombstones; its `meta.json` still
    /// has the old count.
    TombstonesWritten,
}

#[cfg(test)]
const SIMULATED: &str = "simulated crash at";

/// Where to crash, if anywhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Crash {
    #[cfg(test)]
    pub(crate) at: Option<Step>,
}

impl Crash {
    /// Fails if armed for `step`.
    #[cfg_attr(not(test), inline(always))]
    pub(crate) fn point(&self, step: Step) -> Result<(), TsdbError> {
        #[cfg(test)]
        if self.at == Some(step) {
            return Err(TsdbError::InvalidInput(format!("{SIMULATED} {step:?}")));
        }
        let _ = step;
        Ok(())
    }
}

/// Whether `e` is a simulated crash, after which nothing may be cleaned
/// up (a real crash cleans up nothing either).
#[cfg_attr(not(test), inline(always))]
pub(crate) fn is_simulated(e: &TsdbError) -> bool {
    #[cfg(test)]
    {
        match e {
            TsdbError::InvalidInput(m) => m.starts_with(SIMULATED),
            TsdbError::Context { error, .. } => is_simulated(error),
            _ => false,
        }
    }
    #[cfg(not(test))]
    {
        let _ = e;
        false
    }
}
