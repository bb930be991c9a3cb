//! Which jobs a run takes and in what order: `--shard K/N` (a deterministic share of the tenant, by stable ids, so
//! that N jobs of a scheduler split it with no coordinator) and the interleaving of capacities (so that one busy
//! capacity does not hold up the others).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// Share `index` (1-based) of `count`: the jobs whose stable id hashes to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: u32,
    /// How many shards split the work.
    pub count: u32,
}

impl Shard {
    /// Whether the job of stable id `id` is this shard's. The id is compared without regard to case (Power BI
    /// GUIDs are spelled either way); the hash is SHA-256, so the split does not change between versions or
    /// machines.
    pub fn takes(&self, id: &str) -> bool {
        let digest = Sha256::digest(id.to_ascii_lowercase().as_bytes());
        let first = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        first % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || {
            format!(
                "'{s}' is not a shard: write K/N, with 1 <= K <= N (for example 2/4 for the second of four jobs)"
            )
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The order to start jobs in: one of each capacity in turn (capacities in order of first appearance), each
/// capacity's jobs in their own order. With a limit per capacity, a window of jobs then spans capacities, and a
/// capacity at its limit leaves the others running.
pub fn interleave<T>(jobs: Vec<T>, capacity: impl Fn(&T) -> Option<String>) -> Vec<T> {
    let mut order: Vec<Option<String>> = Vec::new();
    let mut queues: BTreeMap<Option<String>, VecDeque<T>> = BTreeMap::new();
    for job in jobs {
        let key = capacity(&job);
        if !queues.contains_key(&key) {
            order.push(key.clone());
        }
        queues.entry(key).or_default().push_back(job);
    }
    let mut out = Vec::new();
    loop {
        let mut took = false;
        for key in &order {
            if let Some(job) = queues.get_mut(key).and_then(VecDeque::pop_front) {
                out.push(job);
                took = true;
            }
        }
        if !took {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shards_parse_and_refuse_what_is_not_one() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!("1/1".parse::<Shard>().unwrap().to_string(), "1/1");
        for bad in ["0/4", "5/4", "4", "a/b", "1/0", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("K/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_known_id_stays_in_its_shard() {
        // Pinned: a change of hash would move datasets between the jobs of a running schedule.
        let id = "5b218778-e7a5-4d73-8187-f10824047715";
        let shards: Vec<u32> =
            (1..=4).filter(|k| Shard { index: *k, count: 4 }.takes(id)).collect();
        assert_eq!(shards.len(), 1);
        assert!(Shard { index: shards[0], count: 4 }.takes(&id.to_ascii_uppercase()));
    }

    proptest! {
        #[test]
        fn every_id_is_in_exactly_one_shard(ids in proptest::collection::vec("[a-f0-9-]{1,36}", 1..50), n in 1u32..9) {
            for id in &ids {
                let owners = (1..=n).filter(|k| Shard { index: *k, count: n }.takes(id)).count();
                prop_assert_eq!(owners, 1);
            }
        }

        #[test]
        fn interleaving_keeps_every_job_and_each_capacitys_order(jobs in proptest::collection::vec((0u8..4, 0u32..1000), 0..60)) {
            let out = interleave(jobs.clone(), |(c, _)| Some(c.to_string()));
            let mut sorted_in = jobs.clone();
            let mut sorted_out = out.clone();
            sorted_in.sort();
            sorted_out.sort();
            prop_assert_eq!(sorted_in, sorted_out);
            for c in 0u8..4 {
                let before: Vec<_> = jobs.iter().filter(|j| j.0 == c).collect();
                let after: Vec<_> = out.iter().filter(|j| j.0 == c).collect();
                prop_assert_eq!(before, after);
            }
        }
    }

    #[test]
    fn capacities_take_turns() {
        let jobs = vec![("a", 1), ("a", 2), ("a", 3), ("b", 1), ("c", 1), ("b", 2)];
        let out = interleave(jobs, |(c, _)| Some((*c).to_owned()));
        assert_eq!(out, [("a", 1), ("b", 1), ("c", 1), ("a", 2), ("b", 2), ("a", 3)]);
    }
}
