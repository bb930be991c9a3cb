//! How many backups one capacity is sent at once, learned while the run goes.
//!
//! The service publishes no limit: it differs by SKU and by the capacity's other work, and it changes during a night.
//! So each capacity starts at `backup.per-capacity` and its window moves with what the capacity answers:
//!
//! - **Additive increase.** Each round of backups the capacity ran to the end (as many as the window) widens the
//!   window by one, up to `backup.max-per-capacity`.
//! - **Decrease on a refusal for load.** The first refusal sets the window to what the capacity was holding when it
//!   refused (one fewer than were running); a second refusal before any backup ends halves it (the capacity's limit
//!   fell, or others' work grew). Going back to a number the capacity refused waits for twice as many ended backups
//!   each time it is refused again, so a steady limit costs a few refused requests, not one per round.
//! - **A refusal with none of ours running** (the capacity is busy with others' work) pauses the capacity for 2 s,
//!   doubling to 60 s, since no backup of ours will end to free a slot.
//!
//! A refused backup goes back to the front of its capacity's queue and is sent as soon as the window has room: a
//! refusal for load is waiting, not failing.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use serde::{Deserialize, Serialize};

/// The first pause after a refusal with none of ours running.
const FIRST_PAUSE: Duration = Duration::from_secs(2);
/// The longest such pause.
const LONGEST_PAUSE: Duration = Duration::from_secs(60);
/// The most ended backups a return to a refused number waits for.
const LONGEST_PROBE_WAIT: usize = 64;

/// What a run learned of one capacity (or server), for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityPace {
    /// The capacity's id (Power BI), or the server.
    pub capacity: String,
    /// The capacity's display name, when the service listed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Backups at once it started with (`backup.per-capacity`).
    pub start: usize,
    /// Backups at once it had learned when the run ended.
    pub learned: usize,
    /// The most sent to it at once, counted when a backup ended (a backup it then refused counts while it was on its
    /// way: pbi-sim's counts show the capacity itself never ran more than it took).
    pub peak: usize,
    /// Backups it refused for load (each sent again).
    pub refused_for_load: u64,
}

#[derive(Debug, Clone)]
struct Window {
    limit: usize,
    running: usize,
    /// Backups that ended since the window last changed.
    ended: usize,
    /// Whether a refusal came since the last backup ended.
    refused_since_ended: bool,
    /// The fewest at once the capacity refused lately; the window reaches it again only after `probe_wait` ended.
    refused_at: Option<usize>,
    probe_wait: usize,
    /// Nothing is sent before this.
    paused_until: Option<Instant>,
    pause: Duration,
    refusals: u64,
    peak: usize,
}

/// The windows of every capacity of a run.
#[derive(Debug)]
pub(crate) struct Pacer {
    start: usize,
    max: usize,
    windows: BTreeMap<String, Window>,
}

impl Pacer {
    /// Windows that start at `start` backups at once and never pass `max`.
    pub(crate) fn new(start: usize, max: usize) -> Pacer {
        let start = start.max(1);
        Pacer { start, max: max.max(start), windows: BTreeMap::new() }
    }

    fn window(&mut self, capacity: &str) -> &mut Window {
        let start = self.start;
        self.windows.entry(capacity.to_owned()).or_insert_with(|| Window {
            limit: start,
            running: 0,
            ended: 0,
            refused_since_ended: false,
            refused_at: None,
            probe_wait: 0,
            paused_until: None,
            pause: FIRST_PAUSE,
            refusals: 0,
            peak: 0,
        })
    }

    /// Whether one more backup may be sent to `capacity` now.
    pub(crate) fn has_room(&mut self, capacity: &str, now: Instant) -> bool {
        let w = self.window(capacity);
        w.running < w.limit && w.paused_until.is_none_or(|t| now >= t)
    }

    /// When a paused capacity may be sent to again (`None`: it is not paused).
    pub(crate) fn paused_until(&self, capacity: &str) -> Option<Instant> {
        self.windows.get(capacity).and_then(|w| w.paused_until)
    }

    /// The sum of every window: how many backups the capacities take at once, as far as the run knows.
    pub(crate) fn total(&self) -> usize {
        self.windows.values().map(|w| w.limit).sum()
    }

    /// The window of `capacity` now (`start` for one not seen yet).
    pub(crate) fn limit(&self, capacity: &str) -> usize {
        self.windows.get(capacity).map_or(self.start, |w| w.limit)
    }

    /// The window of a capacity not seen yet counts as `start`.
    pub(crate) fn start(&self) -> usize {
        self.start
    }

    /// A backup was sent to `capacity`.
    pub(crate) fn started(&mut self, capacity: &str) {
        self.window(capacity).running += 1;
    }

    /// A backup `capacity` ran ended (whatever its outcome other than a refusal for load).
    pub(crate) fn ended(&mut self, capacity: &str) {
        let max = self.max;
        let w = self.window(capacity);
        let at_once = w.running;
        w.peak = w.peak.max(at_once);
        w.running = w.running.saturating_sub(1);
        w.refused_since_ended = false;
        w.pause = FIRST_PAUSE;
        w.paused_until = None;
        // It held this many at once: a number refused earlier is allowed again.
        if w.refused_at.is_some_and(|r| at_once >= r) {
            w.refused_at = None;
            w.probe_wait = 0;
        }
        w.ended += 1;
        if w.ended < w.limit || w.limit >= max {
            return;
        }
        let next = w.limit + 1;
        match w.refused_at {
            Some(r) if next >= r && w.ended < w.probe_wait => {}
            _ => {
                w.limit = next;
                w.ended = 0;
            }
        }
    }

    /// `capacity` refused a backup for load; it goes back to the queue.
    pub(crate) fn refused(&mut self, capacity: &str, now: Instant) {
        let w = self.window(capacity);
        let at_once = w.running;
        w.running = w.running.saturating_sub(1);
        w.refusals += 1;
        w.ended = 0;
        w.limit = if w.refused_since_ended {
            (w.limit / 2).max(1)
        } else {
            w.limit.min(at_once.saturating_sub(1)).max(1)
        };
        w.refused_since_ended = true;
        if w.refused_at.is_some_and(|r| at_once >= r) {
            w.probe_wait = (w.probe_wait * 2).min(LONGEST_PROBE_WAIT);
        } else {
            w.refused_at = Some(at_once);
            w.probe_wait = w.limit.max(1);
        }
        if w.running == 0 {
            w.paused_until = Some(now + w.pause);
            w.pause = (w.pause * 2).min(LONGEST_PAUSE);
        }
    }

    /// What was learned, per capacity.
    pub(crate) fn report(&self) -> Vec<CapacityPace> {
        self.windows
            .iter()
            .map(|(capacity, w)| CapacityPace {
                capacity: capacity.clone(),
                name: None,
                start: self.start,
                // A window probing a number the capacity refused has not learned it.
                learned: w.refused_at.map_or(w.limit, |r| w.limit.min(r.saturating_sub(1)).max(1)),
                peak: w.peak,
                refused_for_load: w.refusals,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A capacity that takes `limit` at once, and a run that keeps it full: how many refusals, what it learned, and
    /// how much of its time a slot was idle while work waited.
    fn drive(start: usize, max: usize, limits: &[(usize, usize)], backups: usize) -> (Pacer, u64) {
        let mut p = Pacer::new(start, max);
        let now = Instant::now();
        let (mut done, mut running, mut idle_slot_rounds) = (0, 0usize, 0u64);
        let limit_now = |done: usize| {
            limits.iter().rev().find(|(after, _)| done >= *after).map_or(limits[0].1, |(_, l)| *l)
        };
        while done < backups {
            // Fill the window; the capacity refuses past its limit.
            while p.has_room("c", now) && done + running < backups {
                p.started("c");
                if running < limit_now(done) {
                    running += 1;
                } else {
                    p.refused("c", now);
                }
            }
            idle_slot_rounds += limit_now(done).min(p.max).saturating_sub(running) as u64;
            if running == 0 {
                // Paused with nothing running: the capacity's others ended; try again.
                p.windows.get_mut("c").expect("seen").paused_until = None;
                continue;
            }
            running -= 1;
            done += 1;
            p.ended("c");
        }
        (p, idle_slot_rounds)
    }

    #[test]
    fn a_window_below_the_limit_grows_to_it_and_settles_there() {
        let (p, _) = drive(2, 8, &[(0, 4)], 400);
        let r = &p.report()[0];
        assert_eq!((r.start, r.learned, r.peak), (2, 4, 4), "{r:?}");
        // Returns to 5 cost a refusal each, ever rarer (after 4, 8, 16, 32 ended, then every 64): 10 in 400, where
        // one per round of four would be 100.
        assert!(r.refused_for_load <= 12, "{r:?}");
    }

    #[test]
    fn a_window_above_the_limit_comes_down_to_it() {
        let (p, _) = drive(4, 8, &[(0, 1)], 200);
        let r = &p.report()[0];
        assert_eq!(r.learned, 1, "{r:?}");
        assert!(r.refused_for_load <= 10, "{r:?}");
    }

    #[test]
    fn a_limit_that_changes_is_followed_both_ways() {
        let (p, _) = drive(2, 8, &[(0, 4), (100, 1), (200, 3)], 400);
        let r = &p.report()[0];
        assert_eq!(r.learned, 3, "{r:?}");
        assert_eq!(r.peak, 4, "{r:?}");
    }

    #[test]
    fn the_window_never_passes_the_maximum() {
        let (p, _) = drive(2, 3, &[(0, 10)], 200);
        let r = &p.report()[0];
        assert_eq!((r.learned, r.peak, r.refused_for_load), (3, 3, 0), "{r:?}");
    }

    #[test]
    fn a_refusal_with_none_of_ours_running_pauses_the_capacity() {
        let mut p = Pacer::new(1, 4);
        let now = Instant::now();
        p.started("c");
        p.refused("c", now);
        assert!(!p.has_room("c", now));
        assert_eq!(p.paused_until("c"), Some(now + FIRST_PAUSE));
        assert!(p.has_room("c", now + FIRST_PAUSE));
        p.started("c");
        p.refused("c", now + FIRST_PAUSE);
        assert_eq!(p.paused_until("c"), Some(now + FIRST_PAUSE + FIRST_PAUSE * 2));
    }

    proptest! {
        /// Whatever the limit and the start, the window stays within 1..=max, never runs more than it allows, and
        /// leaves at most a small share of the capacity idle while work waits.
        #[test]
        fn the_window_keeps_a_steady_capacity_busy(start in 1usize..6, limit in 1usize..6, max in 1usize..8) {
            let (p, idle) = drive(start, max, &[(0, limit)], 300);
            let r = &p.report()[0];
            let max = max.max(start);
            prop_assert!(r.learned >= 1 && r.learned <= max);
            prop_assert!(r.peak <= max.min(limit));
            let usable = limit.min(max) as u64;
            // Idle slot-rounds: at most a tenth of the work, plus the rounds spent growing from the start.
            prop_assert!(idle <= 30 + usable * usable * 2, "idle {idle} {r:?}");
        }
    }
}
