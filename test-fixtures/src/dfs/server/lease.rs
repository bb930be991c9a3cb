//! Lease Blob (`PUT ?comp=lease`), as the REST reference documents it (learn.microsoft.com
//! `rest/api/storageservices/lease-blob`), and the lock it puts on the blob's writes:
//!
//! - `x-ms-lease-action: acquire` with `x-ms-lease-duration` (-1, or 15 to 60 s; anything else 400
//!   `InvalidHeaderValue`) and an optional `x-ms-proposed-lease-id`: 201 with `x-ms-lease-id`. A blob leased by
//!   another id answers 409 `LeaseAlreadyPresent`; one whose lease is breaking, 409
//!   `LeaseIsBreakingAndCannotBeAcquired`. Acquiring again with the active id renews it.
//! - `renew` with `x-ms-lease-id`: 200; also after expiry while nobody leased it since. A different id: 409
//!   `LeaseIdMismatchWithLeaseOperation`; no lease: 409 `LeaseNotPresentWithLeaseOperation`; a broken one: 409
//!   `LeaseIsBrokenAndCannotBeRenewed`.
//! - `release` with the id: 200 (the blob is free at once).
//! - `break` with an optional `x-ms-lease-break-period` (0 to 60 s): 202 with `x-ms-lease-time`, the seconds until it
//!   ends (the shorter of the period and what remains); no lease: 409 `LeaseNotPresentWithLeaseOperation`.
//! - While a lease is active, a write or delete of the blob without `x-ms-lease-id` answers 412 `LeaseIdMissing`, and
//!   with another id 412 `LeaseIdMismatchWithBlobOperation`.
//!
//! Leases live in memory only: an emulator started again has none (the service keeps them across its restarts).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hyper::Response;

use super::{Body, Req, Shared, empty, hv, set_tags};
use crate::dfs::state::{ApiResult, err};

/// One blob's lease.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    id: String,
    /// What it was taken for, which a renewal grants again; `None` for an infinite lease.
    span: Option<Duration>,
    /// When it ends unless renewed; `None` for an infinite lease.
    expires: Option<Instant>,
    /// Set by a break: when the broken lease ends.
    broken_at: Option<Instant>,
}

/// The leases, by filesystem and path.
#[derive(Debug, Default)]
pub(crate) struct Leases(HashMap<(String, String), Lease>);

/// What a lease is, now.
enum Now<'a> {
    Free,
    Active(&'a Lease),
    Breaking(&'a Lease),
    /// Expired or broken, and nobody leased it since (it may be renewed by its id).
    Lapsed(&'a Lease),
}

impl Leases {
    fn now(&self, key: &(String, String)) -> Now<'_> {
        let now = Instant::now();
        match self.0.get(key) {
            None => Now::Free,
            Some(l) => match l.broken_at {
                Some(at) if at > now => Now::Breaking(l),
                Some(_) => Now::Lapsed(l),
                None if l.expires.is_none_or(|e| e > now) => Now::Active(l),
                None => Now::Lapsed(l),
            },
        }
    }

    /// The id of the active (or breaking) lease on a path, which its writes must carry.
    pub(crate) fn guard(&self, fs: &str, path: &str, given: Option<&str>) -> ApiResult<()> {
        let key = (fs.to_owned(), path.to_owned());
        let id = match self.now(&key) {
            Now::Active(l) | Now::Breaking(l) => &l.id,
            Now::Free | Now::Lapsed(_) => return Ok(()),
        };
        match given {
            None => Err(err(
                412,
                "LeaseIdMissing",
                "There is currently a lease on the blob and no lease ID was specified in the request.",
            )),
            Some(g) if !g.eq_ignore_ascii_case(id) => Err(err(
                412,
                "LeaseIdMismatchWithBlobOperation",
                "The lease ID specified did not match the lease ID for the blob.",
            )),
            Some(_) => Ok(()),
        }
    }

    /// The lease headers of a path's properties: state, status and duration.
    pub(crate) fn describe(
        &self,
        fs: &str,
        path: &str,
    ) -> (&'static str, &'static str, Option<&'static str>) {
        match self.now(&(fs.to_owned(), path.to_owned())) {
            Now::Free => ("available", "unlocked", None),
            Now::Active(l) => {
                ("leased", "locked", Some(if l.expires.is_none() { "infinite" } else { "fixed" }))
            }
            Now::Breaking(_) => ("breaking", "locked", None),
            Now::Lapsed(l) if l.broken_at.is_some() => ("broken", "unlocked", None),
            Now::Lapsed(_) => ("expired", "unlocked", None),
        }
    }
}

fn mismatch() -> crate::dfs::state::ApiError {
    err(
        409,
        "LeaseIdMismatchWithLeaseOperation",
        "The lease ID specified did not match the lease ID for the blob.",
    )
}

fn not_present() -> crate::dfs::state::ApiError {
    err(409, "LeaseNotPresentWithLeaseOperation", "There is currently no lease on the blob.")
}

fn seconds(r: &Req, name: &str, allowed: impl Fn(i64) -> bool) -> ApiResult<Option<i64>> {
    match r.h(name) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if allowed(n) => Ok(Some(n)),
            _ => Err(err(
                400,
                "InvalidHeaderValue",
                "The value for one of the HTTP headers is not in the correct format.",
            )),
        },
    }
}

/// An action's answer: its status, the lease id to return, and the seconds a break leaves.
type Answer = (u16, Option<String>, Option<u64>);

/// Lease Blob.
pub(super) fn lease(shared: &Shared, r: &Req, fs: &str) -> ApiResult<Response<Body>> {
    // The blob must exist (a directory is no blob); every answer carries its ETag and Last-Modified.
    let (etag, last_modified) = {
        let state = shared.state.lock().expect("state lock");
        match state.view(fs, &r.path) {
            Ok(v) if !v.entry.is_dir => (v.entry.etag.clone(), v.entry.last_modified),
            _ => return Err(err(404, "BlobNotFound", "The specified blob does not exist.")),
        }
    };
    let key = (fs.to_owned(), r.path.clone());
    let mut leases = shared.leases.lock().expect("lease lock");
    let action = r.h("x-ms-lease-action").unwrap_or("").to_ascii_lowercase();
    let (status, id, time) = match action.as_str() {
        "acquire" => acquire(&mut leases, key, r)?,
        "renew" => renew_or_release(&mut leases, key, r, false)?,
        "release" => renew_or_release(&mut leases, key, r, true)?,
        "break" => break_lease(&mut leases, key, r)?,
        _ => return Err(invalid_header()),
    };
    let mut resp = empty(status);
    set_tags(&mut resp, &etag, last_modified);
    let h = resp.headers_mut();
    if let Some(id) = id {
        h.insert("x-ms-lease-id", hv(&id));
    }
    if let Some(t) = time {
        h.insert("x-ms-lease-time", hv(&t.to_string()));
    }
    Ok(resp)
}

fn invalid_header() -> crate::dfs::state::ApiError {
    err(
        400,
        "InvalidHeaderValue",
        "The value for one of the HTTP headers is not in the correct format.",
    )
}

fn missing_header() -> crate::dfs::state::ApiError {
    err(
        400,
        "MissingRequiredHeader",
        "An HTTP header that's mandatory for this request is not specified.",
    )
}

fn acquire(leases: &mut Leases, key: (String, String), r: &Req) -> ApiResult<Answer> {
    let duration = seconds(r, "x-ms-lease-duration", |n| n == -1 || (15..=60).contains(&n))?
        .ok_or_else(missing_header)?;
    let proposed = r.h("x-ms-proposed-lease-id").map(str::to_owned);
    match leases.now(&key) {
        Now::Active(l) if proposed.as_deref().is_none_or(|p| !p.eq_ignore_ascii_case(&l.id)) => {
            return Err(err(409, "LeaseAlreadyPresent", "There is already a lease present."));
        }
        Now::Breaking(_) => {
            return Err(err(
                409,
                "LeaseIsBreakingAndCannotBeAcquired",
                "There is already a breaking lease present on the blob. It can't be acquired until it's broken.",
            ));
        }
        _ => {}
    }
    let id = proposed.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = u64::try_from(duration).ok().map(Duration::from_secs);
    let expires = span.map(|s| Instant::now() + s);
    leases.0.insert(key, Lease { id: id.clone(), span, expires, broken_at: None });
    Ok((201, Some(id), None))
}

fn renew_or_release(
    leases: &mut Leases,
    key: (String, String),
    r: &Req,
    release: bool,
) -> ApiResult<Answer> {
    let given = r.h("x-ms-lease-id").ok_or_else(missing_header)?;
    let lease = match leases.now(&key) {
        Now::Free => return Err(not_present()),
        Now::Active(l) | Now::Breaking(l) | Now::Lapsed(l) => l.clone(),
    };
    if !lease.id.eq_ignore_ascii_case(given) {
        return Err(mismatch());
    }
    if release {
        leases.0.remove(&key);
        return Ok((200, None, None));
    }
    if lease.broken_at.is_some() {
        return Err(err(
            409,
            "LeaseIsBrokenAndCannotBeRenewed",
            "The lease ID matched, but the lease has been broken explicitly and cannot be renewed.",
        ));
    }
    // Renewed for the span it was taken for (an infinite one stays infinite).
    let renewed = lease.span.map(|s| Instant::now() + s);
    leases.0.insert(key, Lease { expires: renewed, ..lease.clone() });
    Ok((200, Some(lease.id), None))
}

fn break_lease(leases: &mut Leases, key: (String, String), r: &Req) -> ApiResult<Answer> {
    let period = seconds(r, "x-ms-lease-break-period", |n| (0..=60).contains(&n))?;
    let lease = match leases.now(&key) {
        Now::Active(l) | Now::Breaking(l) => l.clone(),
        Now::Free | Now::Lapsed(_) => return Err(not_present()),
    };
    let now = Instant::now();
    let left = lease.expires.map_or(Duration::MAX, |e| e.saturating_duration_since(now));
    let wait = match period {
        Some(p) => Duration::from_secs(u64::try_from(p).unwrap_or(0)).min(left),
        None if lease.expires.is_none() => Duration::ZERO,
        None => left,
    };
    let at = lease.broken_at.map_or(now + wait, |b| b.min(now + wait));
    leases.0.insert(key, Lease { broken_at: Some(at), ..lease });
    Ok((202, None, Some(at.saturating_duration_since(now).as_secs())))
}
