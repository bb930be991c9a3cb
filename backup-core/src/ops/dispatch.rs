//! The order a bulk run sends its backups in, for the least wall time the capacities allow.
//!
//! Jobs arrive as their workspace's preflight ends. Each capacity has its own queue, largest model first (longest
//! processing time first: the big ones do not end the night alone), and its own window ([`Pacer`]). Whenever a
//! window has room, the capacity with the most work left (its queued size over its window) is sent its next job: the
//! bottleneck never waits for a slot the client holds elsewhere. The run's own limit is the sum of the windows unless
//! `backup.concurrency` sets one. A job refused for load goes back to the front of its queue and is sent again as soon
//! as the window has room.

use std::collections::BTreeMap;
use std::future::Future;

use futures::stream::{FuturesUnordered, Stream, StreamExt};
use tokio::time::Instant;

use super::pacing::{CapacityPace, Pacer};

/// The most backups at once when `backup.concurrency` is not set: each holds a read-back stream of its own.
pub(crate) const MOST_AT_ONCE: usize = 32;

/// A job ready to run, or a result that needed no run (skipped, blocked by its preflight).
pub(crate) enum Prepared<J, R> {
    Ready(J),
    Finished(R),
}

/// What one attempt at a job came to.
pub(crate) enum Attempt<J, R> {
    Done(R),
    /// The capacity refused it for load: it goes back to its queue.
    RefusedForLoad(J),
}

/// How the dispatcher sees a job: its capacity (or server) and its size, when known.
pub(crate) trait Queued {
    fn capacity(&self) -> String;
    fn size(&self) -> Option<u64>;
}

/// One capacity's jobs, largest first, jobs of unknown size after the known.
struct Queue<J> {
    jobs: Vec<J>,
}

impl<J: Queued> Queue<J> {
    fn insert(&mut self, job: J) {
        let key = |j: &J| std::cmp::Reverse(j.size().map_or((0, 0), |s| (1, s)));
        let at = self.jobs.partition_point(|j| key(j) <= key(&job));
        self.jobs.insert(at, job);
    }

    /// The work left, in bytes; a job of unknown size counts as `unknown`.
    fn work(&self, unknown: u64) -> u64 {
        self.jobs.iter().map(|j| j.size().unwrap_or(unknown)).sum()
    }
}

/// Runs every job `prepared` yields through `attempt`, as described above; returns the results (in the order they
/// ended) and what was learned of each capacity.
pub(crate) async fn dispatch<J, R, F, Fut>(
    prepared: impl Stream<Item = Prepared<J, R>>,
    mut pacer: Pacer,
    concurrency: Option<usize>,
    attempt: F,
) -> (Vec<R>, Vec<CapacityPace>)
where
    J: Queued,
    F: Fn(J) -> Fut,
    Fut: Future<Output = Attempt<J, R>>,
{
    let mut prepared = std::pin::pin!(prepared);
    let mut arriving = true;
    let mut queues: BTreeMap<String, Queue<J>> = BTreeMap::new();
    let mut running = FuturesUnordered::new();
    let mut results = Vec::new();
    loop {
        let now = Instant::now();
        while let Some(job) = next_job(&mut queues, &mut pacer, running.len(), concurrency, now) {
            let capacity = job.capacity();
            pacer.started(&capacity);
            let fut = attempt(job);
            running.push(async move { (capacity, fut.await) });
        }
        let waiting = queues.values().any(|q| !q.jobs.is_empty());
        if !arriving && running.is_empty() && !waiting {
            break;
        }
        // With nothing running, only a paused capacity's end of pause can start something.
        let wake = queues
            .iter()
            .filter(|(_, q)| !q.jobs.is_empty())
            .filter_map(|(c, _)| pacer.paused_until(c))
            .min();
        tokio::select! {
            item = prepared.next(), if arriving => match item {
                Some(Prepared::Ready(job)) => {
                    queues.entry(job.capacity()).or_insert_with(|| Queue { jobs: Vec::new() }).insert(job);
                }
                Some(Prepared::Finished(r)) => results.push(r),
                None => arriving = false,
            },
            Some((capacity, outcome)) = running.next(), if !running.is_empty() => match outcome {
                Attempt::Done(r) => {
                    pacer.ended(&capacity);
                    results.push(r);
                }
                Attempt::RefusedForLoad(job) => {
                    pacer.refused(&capacity, Instant::now());
                    queues.entry(capacity).or_insert_with(|| Queue { jobs: Vec::new() }).jobs.insert(0, job);
                }
            },
            () = sleep_until(wake), if wake.is_some() => {}
        }
    }
    (results, pacer.report())
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// The next job to send: from the capacity with the most work left over its window, among those with room, while the
/// run's own limit allows.
fn next_job<J: Queued>(
    queues: &mut BTreeMap<String, Queue<J>>,
    pacer: &mut Pacer,
    running: usize,
    concurrency: Option<usize>,
    now: Instant,
) -> Option<J> {
    let waiting: Vec<&String> =
        queues.iter().filter(|(_, q)| !q.jobs.is_empty()).map(|(c, _)| c).collect();
    if waiting.is_empty() {
        return None;
    }
    let limit = concurrency.unwrap_or_else(|| pacer.total().max(pacer.start()).min(MOST_AT_ONCE));
    if running >= limit.max(1) {
        return None;
    }
    let known: Vec<u64> =
        queues.values().flat_map(|q| q.jobs.iter().filter_map(Queued::size)).collect();
    let unknown = if known.is_empty() { 1 } else { known.iter().sum::<u64>() / known.len() as u64 };
    let mut best: Option<(String, u128)> = None;
    for (capacity, queue) in queues.iter() {
        if queue.jobs.is_empty() || !pacer.has_room(capacity, now) {
            continue;
        }
        // Work per slot: the time this capacity needs to drain, in bytes per backup at once.
        let window = pacer.limit(capacity).max(1) as u128;
        let left = u128::from(queue.work(unknown)) / window;
        if best.as_ref().is_none_or(|(_, b)| left > *b) {
            best = Some((capacity.clone(), left));
        }
    }
    let (capacity, _) = best?;
    let queue = queues.get_mut(&capacity)?;
    Some(queue.jobs.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Debug)]
    struct Job {
        capacity: &'static str,
        size: u64,
        name: String,
    }

    impl Queued for Job {
        fn capacity(&self) -> String {
            self.capacity.to_owned()
        }
        fn size(&self) -> Option<u64> {
            Some(self.size)
        }
    }

    /// A capacity that runs `limit` at once and refuses more, each backup taking `size` milliseconds.
    #[derive(Default)]
    struct Capacities {
        running: Mutex<BTreeMap<&'static str, usize>>,
        most: Mutex<BTreeMap<&'static str, usize>>,
    }

    async fn run(
        jobs: Vec<Job>,
        limits: &'static [(&'static str, usize)],
        start: usize,
        concurrency: Option<usize>,
    ) -> (Vec<String>, Vec<CapacityPace>, std::time::Duration, Arc<Capacities>) {
        let caps = Arc::new(Capacities::default());
        let stream = futures::stream::iter(jobs.into_iter().map(Prepared::<Job, String>::Ready));
        let began = Instant::now();
        let c = caps.clone();
        let (done, paces) = dispatch(stream, Pacer::new(start, 8), concurrency, move |job: Job| {
            let caps = c.clone();
            async move {
                let limit = limits.iter().find(|(n, _)| *n == job.capacity).map_or(1, |(_, l)| *l);
                {
                    let mut running = caps.running.lock().unwrap();
                    let n = running.entry(job.capacity).or_default();
                    if *n >= limit {
                        return Attempt::RefusedForLoad(job);
                    }
                    *n += 1;
                    let mut most = caps.most.lock().unwrap();
                    let m = most.entry(job.capacity).or_default();
                    *m = (*m).max(*n);
                }
                tokio::time::sleep(std::time::Duration::from_millis(job.size)).await;
                *caps.running.lock().unwrap().get_mut(job.capacity).unwrap() -= 1;
                Attempt::Done(job.name)
            }
        })
        .await;
        (done, paces, began.elapsed(), caps)
    }

    fn jobs(capacity: &'static str, sizes: &[u64]) -> Vec<Job> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, s)| Job { capacity, size: *s, name: format!("{capacity}{i}") })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn every_job_ends_once_and_the_windows_learn_the_limits() {
        let mut all = jobs("a", &[100; 40]);
        all.extend(jobs("b", &[100; 10]));
        let (done, paces, took, caps) = run(all, &[("a", 4), ("b", 1)], 2, None).await;
        let mut names = done.clone();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 50);
        let learned: BTreeMap<_, _> =
            paces.iter().map(|p| (p.capacity.as_str(), p.learned)).collect();
        assert_eq!(learned, BTreeMap::from([("a", 4), ("b", 1)]), "{paces:?}");
        let most = caps.most.lock().unwrap().clone();
        assert_eq!(most, BTreeMap::from([("a", 4), ("b", 1)]));
        // The ideal is max(40 × 100 / 4, 10 × 100 / 1) = 1000 ms; the window grows from 2, so a little more.
        assert!(took.as_millis() <= 1300, "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_largest_models_go_first_and_the_bottleneck_never_waits() {
        // Capacity "big" holds the most work; a run limited to 2 at once keeps one of them on it at all times.
        // The first big one arrives alone and starts at once; the others queue behind it.
        let mut all = jobs("big", &[50]);
        all.extend(jobs("small", &[10; 10]));
        all.extend(jobs("big", &[400, 100, 300]).into_iter().map(|mut j| {
            j.name = format!("big{}", j.name[3..].parse::<usize>().unwrap() + 1);
            j
        }));
        let order = Arc::new(Mutex::new(Vec::new()));
        let o = order.clone();
        let stream = futures::stream::iter(all.into_iter().map(Prepared::<Job, String>::Ready));
        let began = Instant::now();
        let (_, _) = dispatch(stream, Pacer::new(1, 1), Some(2), move |job: Job| {
            o.lock().unwrap().push((job.name.clone(), began.elapsed().as_millis()));
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(job.size)).await;
                Attempt::Done(job.name)
            }
        })
        .await;
        let order = order.lock().unwrap().clone();
        let big: Vec<&str> =
            order.iter().filter(|(n, _)| n.starts_with("big")).map(|(n, _)| n.as_str()).collect();
        assert_eq!(big, ["big0", "big1", "big3", "big2"], "{order:?}");
        let last_big = order.iter().rev().find(|(n, _)| n.starts_with("big")).unwrap().1;
        assert_eq!(last_big, 750, "the big capacity ran back to back: {order:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_limit_is_kept() {
        let all = jobs("a", &[10; 20]);
        let (done, _, _, caps) = run(all, &[("a", 8)], 8, Some(3)).await;
        assert_eq!(done.len(), 20);
        assert_eq!(caps.most.lock().unwrap()["a"], 3);
    }
}
