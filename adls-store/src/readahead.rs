//! The threads that overlap a transfer with its reading and hashing: the read-ahead reader and the digest workers.

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use sha2::Digest;

use crate::{Error, Result, StorePath};

/// The size of the parts [`StoreExt::upload_file`](crate::StoreExt::upload_file) reads.
const READ_PART: usize = 8 << 20;
/// Buffers kept for reuse by one [`read_ahead`]; more can be alive (in flight), but those are freed when done.
const READ_BUFFERS_KEPT: usize = 16;

/// Reads `file` from the start in parts of [`READ_PART`] and sends them to `tx` until the end, a read error, or the
/// receiver is dropped. A part's buffer returns to this reader when the last copy of the part is dropped.
pub(crate) fn read_ahead(
    file: &std::fs::File,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
) {
    /// A buffer that goes back to its reader when dropped.
    struct Pooled {
        buf: Vec<u8>,
        home: std::sync::mpsc::SyncSender<Vec<u8>>,
    }
    impl AsRef<[u8]> for Pooled {
        fn as_ref(&self) -> &[u8] {
            &self.buf
        }
    }
    impl Drop for Pooled {
        fn drop(&mut self) {
            let _ = self.home.try_send(std::mem::take(&mut self.buf));
        }
    }

    let (home, returned) = std::sync::mpsc::sync_channel::<Vec<u8>>(READ_BUFFERS_KEPT);
    let mut offset = 0u64;
    loop {
        let mut buf = returned.try_recv().unwrap_or_default();
        // Only a new buffer is zeroed; a returned one is already initialised up to its old length.
        buf.resize(READ_PART, 0);
        let mut filled = 0;
        while filled < READ_PART {
            match crate::positional::read_at(file, &mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
        if filled == 0 {
            return;
        }
        buf.truncate(filled);
        offset += filled as u64;
        let part = Bytes::from_owner(Pooled { buf, home: home.clone() });
        if tx.blocking_send(Ok(part)).is_err() {
            return;
        }
    }
}

/// SHA-256 and MD5 of a byte stream, computed as it passes, each on its own thread so that hashing overlaps with
/// the transfer (the parts are shared, not copied).
#[derive(Debug)]
pub(crate) struct Hashes {
    sha256: Option<DigestWorker<sha2::Sha256>>,
    md5: Option<DigestWorker<md5::Md5>>,
    pub(crate) len: u64,
}

impl Hashes {
    /// SHA-256, and MD5 too when `md5`.
    pub(crate) fn new(md5: bool) -> Self {
        Self { sha256: Some(DigestWorker::spawn()), md5: md5.then(DigestWorker::spawn), len: 0 }
    }
    pub(crate) async fn update(&mut self, data: &Bytes) {
        if data.is_empty() {
            return;
        }
        self.len += data.len() as u64;
        if let Some(w) = &self.sha256 {
            w.update(data.clone()).await;
        }
        if let Some(w) = &self.md5 {
            w.update(data.clone()).await;
        }
    }

    /// (SHA-256 as lowercase hex, MD5 as raw bytes when asked for).
    pub(crate) async fn finish(&mut self) -> Result<(String, Option<[u8; 16]>)> {
        let sha = self
            .sha256
            .take()
            .ok_or_else(|| Error::Config("hash already finished".into()))?
            .finish()
            .await?;
        let md5 = match self.md5.take() {
            Some(w) => Some(w.finish().await?.into()),
            None => None,
        };
        Ok((hex::encode(sha), md5))
    }
}

/// A digest computed on a dedicated thread, fed through a bounded channel.
#[derive(Debug)]
pub(crate) struct DigestWorker<D: Digest> {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    done: tokio::sync::oneshot::Receiver<sha2::digest::Output<D>>,
}

impl<D: Digest + Send + 'static> DigestWorker<D> {
    fn spawn() -> Self {
        Self::spawn_from(D::new())
    }

    /// A worker that continues `d`, which has already seen some bytes.
    pub(crate) fn spawn_from(d: D) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(2);
        let (done_tx, done) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut d = d;
            while let Some(chunk) = rx.blocking_recv() {
                d.update(&chunk);
            }
            let _ = done_tx.send(d.finalize());
        });
        Self { tx, done }
    }

    pub(crate) async fn update(&self, data: Bytes) {
        // The worker only stops when the sender is dropped, so a send cannot fail while `self` lives.
        let _ = self.tx.send(data).await;
    }

    pub(crate) async fn finish(self) -> Result<sha2::digest::Output<D>> {
        drop(self.tx);
        self.done.await.map_err(|_| Error::Config("a hashing thread stopped".into()))
    }
}

/// A SHA-256 computed on a thread of its own while the caller goes on reading: what every verified read in this
/// crate uses, for callers that hash a stream themselves (a read-back that must report a mismatch rather than fail).
#[derive(Debug)]
pub struct Sha256Worker(DigestWorker<sha2::Sha256>);

impl Sha256Worker {
    /// Starts the hashing thread.
    pub fn spawn() -> Self {
        Self(DigestWorker::spawn())
    }

    /// Hands `data` to the thread; waits only while two parts are already queued.
    pub async fn update(&self, data: Bytes) {
        self.0.update(data).await;
    }

    /// The SHA-256 of everything handed over, lowercase hex.
    ///
    /// # Errors
    /// When the hashing thread stopped (it panicked).
    pub async fn finish(self) -> Result<String> {
        self.0.finish().await.map(hex::encode)
    }
}

/// Wraps a whole-file stream so that it ends with [`Error::Integrity`] when the bytes do not hash to `expected`, or are
/// not `size` bytes long. The hashing runs on its own thread, overlapping with the consumer.
pub(crate) fn verify_stream(
    stream: BoxStream<'static, Result<Bytes>>,
    path: StorePath,
    size: u64,
    expected: Option<String>,
) -> BoxStream<'static, Result<Bytes>> {
    let Some(expected) = expected else { return stream };
    let state = (stream, Some(DigestWorker::<sha2::Sha256>::spawn()), 0u64, Some((path, expected)));
    futures::stream::unfold(state, move |(mut stream, mut worker, mut len, check)| async move {
        let check = check?;
        match stream.next().await {
            Some(Ok(chunk)) => {
                len += chunk.len() as u64;
                if let Some(w) = &worker {
                    w.update(chunk.clone()).await;
                }
                Some((Ok(chunk), (stream, worker, len, Some(check))))
            }
            Some(Err(e)) => Some((Err(e), (stream, worker, len, None))),
            None => {
                let (path, expected) = check;
                let actual = match worker.take() {
                    Some(w) => match w.finish().await {
                        Ok(d) => hex::encode(d),
                        Err(e) => return Some((Err(e), (stream, None, len, None))),
                    },
                    None => String::new(),
                };
                if len != size {
                    let err = Error::Integrity {
                        path: path.to_string(),
                        expected: format!("{size} bytes"),
                        actual: format!("{len} bytes"),
                    };
                    Some((Err(err), (stream, None, len, None)))
                } else if actual != expected {
                    Some((
                        Err(Error::Integrity { path: path.to_string(), expected, actual }),
                        (stream, None, len, None),
                    ))
                } else {
                    None
                }
            }
        }
    })
    .boxed()
}
