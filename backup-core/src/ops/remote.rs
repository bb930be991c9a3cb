//! A blocking `Read + Seek` over a file in a store, fetching only the ranges asked for (in blocks), so the `.abf`
//! reader, which reads over `Read + Seek`, can inspect a 100 GB backup in ADLS by reading its headers, directory and log.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use adls_store::{Store, StorePath};
use bytes::Bytes;

/// The first ranged read after a seek: inspecting a backup reads small, scattered pieces (the header page, the
/// directory, the catalog), so a 4 GiB file is inspected by reading well under a mebibyte.
const FIRST_BLOCK: u64 = 64 << 10;
/// Reads that go on where the last one ended double, up to this, so a full check streams in large ranges.
const MAX_BLOCK: u64 = 4 << 20;

/// See the module documentation. Must be used from a blocking thread (`spawn_blocking`), never from async code.
pub struct RemoteReader {
    store: Arc<dyn Store>,
    path: StorePath,
    len: u64,
    pos: u64,
    block: Option<(u64, Bytes)>,
    /// The size of the last ranged read.
    last_read: u64,
    handle: tokio::runtime::Handle,
    /// Bytes fetched so far (for tests and reports).
    pub fetched: u64,
}

impl std::fmt::Debug for RemoteReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteReader")
            .field("path", &self.path.to_string())
            .field("len", &self.len)
            .finish()
    }
}

impl RemoteReader {
    /// A reader over `path`, whose size is `len`, running requests on `handle`.
    pub fn new(
        store: Arc<dyn Store>,
        path: StorePath,
        len: u64,
        handle: tokio::runtime::Handle,
    ) -> Self {
        RemoteReader { store, path, len, pos: 0, block: None, last_read: 0, handle, fetched: 0 }
    }

    fn fill(&mut self) -> io::Result<()> {
        let sequential = matches!(&self.block, Some((s, b)) if s + b.len() as u64 == self.pos);
        let size = if sequential {
            (self.last_read * 2).clamp(FIRST_BLOCK, MAX_BLOCK)
        } else {
            FIRST_BLOCK
        };
        self.last_read = size;
        let start = self.pos;
        let end = (start + size).min(self.len);
        let store = self.store.clone();
        let path = self.path.clone();
        let bytes = self.handle.block_on(async move {
            let got = store.get_range(&path, Some(start..end)).await?;
            let mut buf = Vec::with_capacity((end - start) as usize);
            let mut stream = got.stream;
            use futures::StreamExt;
            while let Some(c) = stream.next().await {
                buf.extend_from_slice(&c?);
            }
            Ok::<_, adls_store::Error>(Bytes::from(buf))
        });
        let bytes = bytes.map_err(io::Error::other)?;
        self.fetched += bytes.len() as u64;
        self.block = Some((start, bytes));
        Ok(())
    }
}

impl Read for RemoteReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || out.is_empty() {
            return Ok(0);
        }
        let inside =
            matches!(&self.block, Some((s, b)) if self.pos >= *s && self.pos < s + b.len() as u64);
        if !inside {
            self.fill()?;
        }
        let (start, block) = self.block.as_ref().expect("filled");
        let off = (self.pos - start) as usize;
        let n = out.len().min(block.len() - off);
        out[..n].copy_from_slice(&block[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for RemoteReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = new
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}
