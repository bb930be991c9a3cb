//! Uncommitted blocks of one blob (Put Block, Put Block From URL), laid out so that committing them rarely copies.
//!
//! The service commits a block list without copying bytes; the emulator keeps each blob in one file, so a list must
//! become one file. Each blob has a sparse staging file: a block read from a URL range is written at that range's
//! start when nothing else holds that place, so a list naming such blocks in source order, as a copy does, is already
//! the blob, laid out in the staging file, and the commit renames it. Any other list is assembled by copying. Blocks
//! whose length is not known in advance (a body, a URL without a range) get a file of their own. This is the
//! emulator's storage layout only: what a list commits is the same either way.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a block's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockBytes {
    pub file: PathBuf,
    pub offset: u64,
    pub len: u64,
}

/// The uncommitted blocks of one blob.
#[derive(Debug, Default)]
pub struct Staged {
    /// The sparse staging file, once a block was placed in it.
    staging: Option<PathBuf>,
    /// Ranges of the staging file that blocks hold or are being written to.
    taken: Vec<(u64, u64)>,
    /// Blocks being written.
    in_flight: usize,
    blocks: BTreeMap<String, BlockBytes>,
}

impl Staged {
    /// Where to write a block of `len` bytes that would like to start at `want` (a URL range's start); `None` for a
    /// block of unknown length, which goes to `own`, a file of its own.
    pub fn place(
        &mut self,
        want: Option<(u64, u64)>,
        staging: PathBuf,
        own: PathBuf,
    ) -> BlockBytes {
        self.in_flight += 1;
        let Some((want, len)) = want else {
            return BlockBytes { file: own, offset: 0, len: 0 };
        };
        let file = self.staging.get_or_insert(staging).clone();
        let free = |at: u64| self.taken.iter().all(|&(a, b)| at + len <= a || at >= b);
        let offset = if free(want) {
            want
        } else {
            self.taken.iter().map(|&(_, b)| b).max().unwrap_or(0).max(want)
        };
        self.taken.push((offset, offset + len));
        BlockBytes { file, offset, len }
    }

    /// Records the block `id`, written at `place` with `len` bytes; returns the files a replaced block leaves unused.
    pub fn done(&mut self, id: String, place: BlockBytes, len: u64) -> Option<PathBuf> {
        self.in_flight -= 1;
        let old = self.blocks.insert(id, BlockBytes { len, ..place })?;
        self.release_range(&old)
    }

    /// Gives up a place whose block failed; returns its file when it was a file of its own.
    pub fn failed(&mut self, place: &BlockBytes) -> Option<PathBuf> {
        self.in_flight -= 1;
        self.release_range(place)
    }

    fn release_range(&mut self, place: &BlockBytes) -> Option<PathBuf> {
        if Some(&place.file) == self.staging.as_ref() {
            let range = (place.offset, place.offset + place.len);
            if let Some(i) = self.taken.iter().position(|r| *r == range) {
                self.taken.swap_remove(i);
            }
            None
        } else {
            Some(place.file.clone())
        }
    }

    /// The block `id`.
    pub fn get(&self, id: &str) -> Option<&BlockBytes> {
        self.blocks.get(id)
    }

    /// The staging file, when `blocks` (in list order) fill it from its start without a gap and no block is being
    /// written into it: then it is the blob, once cut to their total length.
    pub fn laid_out(&self, blocks: &[BlockBytes]) -> Option<PathBuf> {
        let staging = self.staging.as_ref()?;
        let mut end = 0;
        for b in blocks {
            if &b.file != staging || b.offset != end {
                return None;
            }
            end += b.len;
        }
        (self.in_flight == 0).then(|| staging.clone())
    }

    /// Every file the blob's blocks use, to be removed when they are dropped.
    pub fn files(self) -> impl Iterator<Item = PathBuf> {
        self.staging
            .into_iter()
            .chain(self.blocks.into_values().map(|b| b.file).collect::<Vec<_>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged() -> Staged {
        Staged::default()
    }

    #[test]
    fn blocks_of_consecutive_ranges_are_the_blob_in_place() {
        let mut s = staged();
        // Finished out of order, as concurrent copies finish.
        let b = s.place(Some((10, 5)), "stage".into(), "own-b".into());
        let a = s.place(Some((0, 10)), "stage".into(), "own-a".into());
        assert_eq!((a.offset, b.offset), (0, 10));
        s.done("b".into(), b.clone(), 5);
        s.done("a".into(), a.clone(), 10);
        let list = [s.get("a").unwrap().clone(), s.get("b").unwrap().clone()];
        assert_eq!(s.laid_out(&list), Some(PathBuf::from("stage")));
        // In the other order they are not: they must be copied.
        assert_eq!(s.laid_out(&[list[1].clone(), list[0].clone()]), None);
    }

    #[test]
    fn a_taken_place_sends_a_block_past_the_others_and_a_block_in_flight_blocks_the_rename() {
        let mut s = staged();
        let a = s.place(Some((0, 10)), "stage".into(), "own".into());
        s.done("a".into(), a, 10);
        let again = s.place(Some((0, 10)), "stage".into(), "own".into());
        assert_eq!(again.offset, 10, "the same range under another id must not overwrite block a");
        let a = s.get("a").unwrap().clone();
        assert_eq!(s.laid_out(std::slice::from_ref(&a)), None, "a block is still being written");
        s.failed(&again);
        assert_eq!(s.laid_out(&[a]), Some(PathBuf::from("stage")));
        let body = s.place(None, "stage".into(), "own-c".into());
        assert_eq!(body.file, PathBuf::from("own-c"));
    }
}
