//! Waits that speak: a call that has not ended after 10 s says, at info, what it waits for, and again every 30 s,
//! so that a run at 2 a.m. never sits silent on an endpoint that does not answer. Its deadline is the caller's (the
//! connect and read timeouts, the retry budget); this only makes the wait visible.

use std::future::Future;
use std::time::Duration;

/// When the first line is said.
pub const SPEAK_AFTER: Duration = Duration::from_secs(10);
/// How often it is said again.
const SPEAK_EVERY: Duration = Duration::from_secs(30);

/// Runs `fut` to its end; while it runs past [`SPEAK_AFTER`], logs at info "still waiting for `what`" with the time
/// waited. `what` must hold no secret (a URL without its query string).
pub async fn speaking<F: Future>(what: &str, fut: F) -> F::Output {
    let started = tokio::time::Instant::now();
    let mut fut = std::pin::pin!(fut);
    let mut next = started + SPEAK_AFTER;
    loop {
        tokio::select! {
            out = &mut fut => return out,
            () = tokio::time::sleep_until(next) => {
                tracing::info!(waited_s = started.elapsed().as_secs(), "still waiting for {what}");
                next += SPEAK_EVERY;
            }
        }
    }
}

/// The query parameters a wait may show: what the call does and to which folder; never a SAS's.
const SHOWN_PARAMETERS: [&str; 5] = ["resource", "directory", "action", "comp", "recursive"];

/// A URL as a wait may name it: scheme, host, port, path and the parameters that say what the call does, never the
/// rest of the query (a SAS lives there).
pub fn shown_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| SHOWN_PARAMETERS.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    shown.set_query(None);
    if !kept.is_empty() {
        shown.query_pairs_mut().extend_pairs(kept);
    }
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_shown_url_keeps_what_the_call_does_and_drops_the_signature() {
        let url: url::Url =
            "https://a.dfs.core.windows.net/fs?resource=filesystem&directory=Sales%20Q&sv=2023&sig=c2VjcmV0&se=x"
                .parse()
                .unwrap();
        let shown = super::shown_url(&url);
        assert_eq!(
            shown,
            "https://a.dfs.core.windows.net/fs?resource=filesystem&directory=Sales+Q"
        );
    }
}
