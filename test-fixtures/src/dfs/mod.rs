//! An ADLS Gen2 DFS endpoint on loopback, for tests, benchmarks and people.
//!
//! No ADLS Gen2 emulator exists (Azurite has no DFS support), so this one serves what the project's clients use: the
//! DFS filesystem and path operations (create, append, flush, read, get properties, set properties, list with
//! continuation pages, rename, delete, recursive delete), plus the Blob calls that the Python SDK
//! (`azure-storage-file-datalake`) and azcopy make on the same port (container create/get/delete, blob get
//! properties, ranged blob get, blob listing as XML).
//!
//! - **Files on disk.** Bytes live under the root folder, one data file per path; request bodies are written to disk
//!   as they arrive and response bodies are read from disk as they are sent, so memory stays flat for any file size.
//!   The namespace (names, ETags, properties) lives in memory; every write appends what it changed to a journal
//!   under the root before it is answered, so a server killed at any point keeps what it acknowledged, and one
//!   started again on the same root (snapshot, then journal) serves it. A clean stop writes the snapshot.
//! - **Authentication.** SharedKey signatures are checked for real against the account key (a wrong key gets 403
//!   `AuthenticationFailed`); a SAS query (`sig=`) is accepted; bearer tokens are accepted when this server's token
//!   endpoint (`POST /{tenant}/oauth2/v2.0/token`, client credentials) issued them, so `ClientSecretCredential` runs
//!   end to end.
//! - **Fault injection**, switchable per test through [`Faults`]: a status (503 with `Retry-After`, 500, …), a delay,
//!   a connection cut in the middle of a response or request body, small continuation pages.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use test_fixtures::dfs::{DfsEmulator, Fault, Op};
//! let root = tempfile::tempdir()?;
//! let emu = DfsEmulator::start(root.path()).await?;
//! println!("endpoint {}  account {}  key {}", emu.endpoint(), emu.account(), emu.account_key());
//! emu.faults().inject(Op::Read, Fault::busy(1), 2); // the next two reads get 503 + Retry-After: 1
//! emu.faults().set_page_size(Some(100)); // list pages of at most 100 entries
//! # Ok(()) }
//! ```

mod auth;
mod server;
mod staging;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use auth::{AuthKind, sign, string_to_sign};

/// The account name the emulator serves unless configured otherwise (the Azurite well-known account).
pub const DEFAULT_ACCOUNT: &str = "devstoreaccount1";
/// The Azurite well-known key of [`DEFAULT_ACCOUNT`] (public; for tests only).
pub const DEFAULT_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The client secret the token endpoint accepts unless configured otherwise.
pub const DEFAULT_CLIENT_SECRET: &str = "emulator-client-secret";

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where the bytes are kept.
    pub root: PathBuf,
    /// Address to listen on; port 0 picks a free one.
    pub addr: SocketAddr,
    /// The storage account name.
    pub account: String,
    /// The account key, base64.
    pub account_key: String,
    /// The client secret the token endpoint requires.
    pub client_secret: String,
    /// The bearer tokens it accepts: those its token endpoint issued, and those of every emulator sharing the same
    /// set (as one Entra tenant's storage tokens are good for each of its accounts).
    pub tokens: SharedTokens,
}

/// Bearer tokens issued by the token endpoints of one or more emulators (never printed).
#[derive(Clone, Default)]
pub struct SharedTokens(
    pub(crate) std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
);

impl std::fmt::Debug for SharedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedTokens(..)")
    }
}

impl EmulatorConfig {
    /// Defaults: `127.0.0.1:0`, [`DEFAULT_ACCOUNT`], [`DEFAULT_ACCOUNT_KEY`], [`DEFAULT_CLIENT_SECRET`].
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            account: DEFAULT_ACCOUNT.to_owned(),
            account_key: DEFAULT_ACCOUNT_KEY.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            tokens: SharedTokens::default(),
        }
    }
}

/// A running emulator. Dropping it stops the server and closes its connections.
#[derive(Debug)]
pub struct DfsEmulator {
    addr: SocketAddr,
    tls_addr: SocketAddr,
    shared: Arc<server::Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl DfsEmulator {
    /// Starts an emulator on `127.0.0.1:0` keeping its bytes under `root`.
    pub async fn start(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        Self::start_with(EmulatorConfig::new(root)).await
    }

    /// Starts an emulator as configured.
    pub async fn start_with(config: EmulatorConfig) -> std::io::Result<Self> {
        let (addr, tls_addr, shared, task) = server::spawn(config).await?;
        Ok(Self { addr, tls_addr, shared, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The account name.
    pub fn account(&self) -> &str {
        &self.shared.config.account
    }

    /// The account key, base64.
    pub fn account_key(&self) -> &str {
        &self.shared.config.account_key
    }

    /// The client secret its token endpoint accepts.
    pub fn client_secret(&self) -> &str {
        &self.shared.config.client_secret
    }

    /// The path-style account endpoint with a trailing slash, `http://127.0.0.1:PORT/devstoreaccount1/`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/{}/", self.addr, self.account())
    }

    /// The authority host of its token endpoint, over TLS: `https://127.0.0.1:PORT/`.
    pub fn authority_host(&self) -> String {
        format!("https://{}/", self.tls_addr)
    }

    /// The PEM of the certificate authority of [`Self::authority_host`]'s certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.shared.config.root.join("entra-ca.pem")
    }

    /// The fault-injection switches.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// How many requests of kind `op` arrived (including those answered with an injected fault).
    pub fn request_count(&self, op: Op) -> u64 {
        self.shared.faults.count(op)
    }

    /// The names of the paths that exist in `filesystem` (files and directories), sorted.
    pub fn paths(&self, filesystem: &str) -> Vec<String> {
        self.shared.state.lock().expect("state lock").paths(filesystem)
    }

    /// Makes `path` in `filesystem` look last changed at `when` (to test what happens to old files); false when
    /// there is no such path.
    pub fn set_last_modified(
        &self,
        filesystem: &str,
        path: &str,
        when: time::OffsetDateTime,
    ) -> bool {
        self.shared.state.lock().expect("state lock").set_last_modified(filesystem, path, when)
    }

    /// The on-disk data file holding the committed bytes of `path` in `filesystem`, to let tests tamper with it.
    pub fn data_file(&self, filesystem: &str, path: &str) -> Option<PathBuf> {
        let state = self.shared.state.lock().expect("state lock");
        state.data_file(filesystem, path)
    }

    /// Saves the namespace under the root, so that an emulator started again there serves the same files. Also
    /// done when the emulator is dropped.
    pub fn save(&self) -> std::io::Result<()> {
        self.shared.state.lock().expect("state lock").save()
    }

    /// Stops the server.
    pub fn shutdown(self) {}
}

impl Drop for DfsEmulator {
    fn drop(&mut self) {
        self.task.abort();
        if let Err(e) = self.save() {
            tracing::warn!(error = %e, "the dfs emulator could not save its namespace");
        }
    }
}

/// A kind of request, for fault targeting and counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// Matches every kind.
    Any,
    /// Filesystem (container) create, get properties, set properties, delete, and account listing.
    Filesystem,
    /// Path create (file or directory).
    Create,
    /// `PATCH ?action=append`.
    Append,
    /// `PATCH ?action=flush`.
    Flush,
    /// `PATCH ?action=setProperties` and other path updates.
    SetProperties,
    /// `GET` of a file (DFS read or Blob get).
    Read,
    /// `HEAD` of a path.
    Head,
    /// Path listing (DFS JSON or Blob XML).
    List,
    /// Rename (`PUT` with `x-ms-rename-source`).
    Rename,
    /// Blob Put Block and Put Block From URL (`PUT ?comp=block`).
    PutBlock,
    /// Blob Put Block List (`PUT ?comp=blocklist`).
    PutBlockList,
    /// Blob Put Blob From URL (`PUT` with `x-ms-copy-source`).
    PutBlobFromUrl,
    /// Path delete.
    Delete,
    /// Blob Lease Blob (`PUT ?comp=lease`).
    Lease,
    /// The token endpoint.
    Token,
}

/// What an injected fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status and error code instead of serving the request; `retry_after` sets `Retry-After`
    /// (seconds).
    Status {
        /// The HTTP status.
        status: u16,
        /// The `x-ms-error-code`.
        code: &'static str,
        /// `Retry-After`, in seconds.
        retry_after: Option<u32>,
    },
    /// Wait this long, then serve the request normally.
    Delay(Duration),
    /// Serve the request but cut the connection after this many bytes of the response body.
    CutResponseBody {
        /// Bytes sent before the cut.
        after_bytes: u64,
    },
    /// Read this many bytes of the request body (discarding them), then cut the connection without answering.
    CutRequestBody {
        /// Bytes read before the cut.
        after_bytes: u64,
    },
}

impl Fault {
    /// 503 `ServerBusy` with `Retry-After: retry_after_secs`.
    pub fn busy(retry_after_secs: u32) -> Self {
        Fault::Status { status: 503, code: "ServerBusy", retry_after: Some(retry_after_secs) }
    }

    /// 500 `InternalError`.
    pub fn internal() -> Self {
        Fault::Status { status: 500, code: "InternalError", retry_after: None }
    }
}

#[derive(Debug)]
struct Rule {
    op: Op,
    fault: Fault,
    remaining: u32,
}

/// The fault-injection switches of one emulator; changes apply to the next requests.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<Rule>>,
    page_size: Mutex<Option<usize>>,
    counts: Mutex<std::collections::HashMap<Op, u64>>,
    /// Per kind: requests being served now, and the most served at once.
    in_flight: Mutex<std::collections::HashMap<Op, (usize, usize)>>,
}

/// A request being served, counted in [`Faults::peak_in_flight`] until dropped.
pub(crate) struct Serving<'a> {
    faults: &'a Faults,
    op: Op,
}

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        let mut in_flight = self.faults.in_flight.lock().expect("faults lock");
        if let Some((now, _)) = in_flight.get_mut(&self.op) {
            *now -= 1;
        }
    }
}

impl Faults {
    /// The next `times` requests of kind `op` (or any kind for [`Op::Any`]) get `fault`. Rules apply in the order
    /// they were added; each request takes at most one fault.
    pub fn inject(&self, op: Op, fault: Fault, times: u32) {
        self.rules.lock().expect("faults lock").push(Rule { op, fault, remaining: times });
    }

    /// Caps list pages at `size` entries (`None`: the client's `maxResults`, at most 5,000).
    pub fn set_page_size(&self, size: Option<usize>) {
        *self.page_size.lock().expect("faults lock") = size;
    }

    /// Removes every pending fault and the page-size cap.
    pub fn clear(&self) {
        self.rules.lock().expect("faults lock").clear();
        *self.page_size.lock().expect("faults lock") = None;
    }

    /// The most requests of kind `op` served at once so far, from the request's arrival to its answer (an injected
    /// delay included; a read's body is sent after). Requests that failed authentication are not counted.
    pub fn peak_in_flight(&self, op: Op) -> usize {
        self.in_flight.lock().expect("faults lock").get(&op).map_or(0, |&(_, peak)| peak)
    }

    /// Starts [`Faults::peak_in_flight`] again from the requests being served now.
    pub fn reset_peaks(&self) {
        for (now, peak) in self.in_flight.lock().expect("faults lock").values_mut() {
            *peak = *now;
        }
    }

    /// Counts a request of kind `op` as being served until the guard is dropped.
    pub(crate) fn serving(&self, op: Op) -> Serving<'_> {
        let mut in_flight = self.in_flight.lock().expect("faults lock");
        let (now, peak) = in_flight.entry(op).or_default();
        *now += 1;
        *peak = (*peak).max(*now);
        Serving { faults: self, op }
    }

    /// Faults not yet used.
    pub fn pending(&self) -> u32 {
        self.rules.lock().expect("faults lock").iter().map(|r| r.remaining).sum()
    }

    pub(crate) fn page_size(&self) -> Option<usize> {
        *self.page_size.lock().expect("faults lock")
    }

    /// Counts the request and takes the fault it gets, if any.
    pub(crate) fn take(&self, op: Op) -> Option<Fault> {
        {
            let mut counts = self.counts.lock().expect("faults lock");
            *counts.entry(op).or_default() += 1;
            *counts.entry(Op::Any).or_default() += 1;
        }
        let mut rules = self.rules.lock().expect("faults lock");
        let i = rules.iter().position(|r| r.remaining > 0 && (r.op == Op::Any || r.op == op))?;
        rules[i].remaining -= 1;
        let fault = rules[i].fault.clone();
        if rules[i].remaining == 0 {
            rules.remove(i);
        }
        Some(fault)
    }

    fn count(&self, op: Op) -> u64 {
        self.counts.lock().expect("faults lock").get(&op).copied().unwrap_or(0)
    }
}
