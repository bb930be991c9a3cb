//! `cargo xtask bench storage`: adls-store against its peers (azcopy, the Python SDK) on the DFS emulator.
//!
//! Every client moves the same files (1 GiB and 4 GiB by default) up and down through one emulator, with the same
//! chunk size and concurrency; `curl` to /dev/null of the same file gives the emulator's ceiling. Each transfer is
//! timed as a whole command (`/usr/bin/time`, so process start-up counts) with its peak RSS and the CPU it used (user +
//! system), repeated, and the best time is kept (the machine is shared); each repeat starts with another client. Dirty
//! pages are written back (`sync`) before each run, so that no client pays for the previous one's writes. The table
//! shows MiB/s, peak RSS, CPU seconds (and per GiB), and two ratios: to the best peer of all, and to the best peer
//! that does the same integrity work.
//!
//! The chunk is every client's block size (adls-store's appends, azcopy's `--block-size-mb`, the SDK's
//! `chunk_size` and `max_chunk_get_size`); adls-store reads in its default 4 MiB ranges, which keep a download's
//! memory at half (the crate collects each response in a growing buffer) for the same speed, measured on this
//! machine: 8 MiB ranges peaked at 130 to 160 MiB RSS, 4 MiB ones at 75 to 80 MiB.
//!
//! What each row does:
//! - `adls-store` upload: SHA-256 and MD5 computed while streaming, the MD5 stored on flush, the SHA-256 as a property.
//!   Download (`download_to_file`): SHA-256 verified, written to a temporary name, synced to disk, then renamed.
//! - `adls-store (no MD5)` upload: `store_content_md5 = false`, the default; the SHA-256 is still computed and kept.
//! - `adls-store (stream)` download: the verified stream, discarded (compare with `curl -o /dev/null`).
//! - `azcopy`, `python-sdk`: their defaults; they hash nothing and do not sync.
//! - `azcopy (MD5)`: upload `--put-md5` (computes and stores the MD5), download of that file with
//!   `--check-md5 FailIfDifferent` (verifies it).
//! - `python-sdk (hashlib)`: what the SDK leaves to its user: upload hashes the file first (SHA-256 and MD5 on two
//!   threads), then uploads it with the MD5 as Content-MD5 and the SHA-256 as metadata; download downloads, then
//!   hashes the file and compares with the metadata. The SDK reads parts in parallel at their offsets, so a hash cannot
//!   be computed in one pass alongside it.
//!
//! The "same work" peers are the last two; the adls-store rows that hash compare with them.
//!
//! Then, on the same emulator, rows no peer has:
//! - `sha2 (SHA-256 alone)` hash: the SHA-256 of the local file with the crate adls-store uses, no transfer: the cost
//!   of the hash every transfer pays.
//! - `adls-store (service copy)` and `(streamed copy)`: a copy of the uploaded file to another folder, made by the
//!   storage service (Put Block From URL) or read and written through the client; `client MiB` is what the client
//!   process read and wrote meanwhile (`/proc/self/io`), before any verification.
//! - `pbi-backup verify (read-back)` download: `verify --workspace bench --file F` of that backup: the read-back
//!   every backup pays (the whole file read and hashed), plus its container check.
//! - `pbi-backup inspect` (remote): `inspect --workspace bench --file F` of a generated backup of the size
//!   (`abf-format`'s `make_abf`); `client MiB` is what the emulator wrote to its sockets meanwhile
//!   (`/proc/PID/io` wchar).
//! - `pbi-backup definition` (remote): `definition --workspace bench --file F` of the same backup, read the same way.
//!
//! `RSS ok` says whether the peak RSS of an adls-store row stays within concurrency × chunk + 64 MiB.

#![allow(clippy::print_stdout, reason = "a benchmark reports on its terminal")]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const SAS: &str = "sv=2023-11-03&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=bench";
const FS: &str = "power-bi-backup";

const PY_SCRIPT: &str = r#"
import hashlib, os, sys, threading
from azure.storage.filedatalake import ContentSettings, DataLakeServiceClient
op, url, fs, remote, local, chunk, conc = sys.argv[1:8]
chunk, conc = int(chunk), int(conc)
svc = DataLakeServiceClient(account_url=url,
    credential={"account_name": "devstoreaccount1", "account_key": os.environ["AZURE_STORAGE_KEY"]},
    max_single_get_size=chunk, max_chunk_get_size=chunk)
f = svc.get_file_system_client(fs).get_file_client(remote)

def file_hash(algo, out):
    h = hashlib.new(algo)
    with open(local, "rb") as src:
        while True:
            b = src.read(8 << 20)
            if not b:
                break
            h.update(b)
    out[algo] = h

if op == "upload":
    with open(local, "rb") as src:
        f.upload_data(src, overwrite=True, max_concurrency=conc, chunk_size=chunk)
elif op == "upload-hashed":
    out = {}
    threads = [threading.Thread(target=file_hash, args=(a, out)) for a in ("sha256", "md5")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(local, "rb") as src:
        f.upload_data(src, overwrite=True, max_concurrency=conc, chunk_size=chunk,
            content_settings=ContentSettings(content_md5=bytearray(out["md5"].digest())),
            metadata={"sha256": out["sha256"].hexdigest()})
elif op == "download":
    with open(local, "wb") as dst:
        f.download_file(max_concurrency=conc).readinto(dst)
elif op == "download-hashed":
    want = f.get_file_properties().metadata.get("sha256")
    with open(local, "wb") as dst:
        f.download_file(max_concurrency=conc).readinto(dst)
    out = {}
    file_hash("sha256", out)
    if out["sha256"].hexdigest() != want:
        sys.exit("sha256 mismatch")
else:
    sys.exit("unknown op " + op)
"#;

struct Options {
    sizes_gib: Vec<u64>,
    chunk_mib: u64,
    concurrency: u64,
    repeat: u32,
}

struct Row {
    tool: &'static str,
    op: &'static str,
    gib: u64,
    secs: f64,
    rss_mib: f64,
    cpu_secs: f64,
    /// Bytes that went through the client (the copy and inspect rows).
    client_bytes: Option<u64>,
}

/// Stops the emulator when dropped.
struct Emulator {
    child: Child,
    port: u16,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cargo xtask bench storage [options]`: every client on every size, then the table.
pub(crate) fn run(sh: &Shell, mut args: impl Iterator<Item = String>) -> Result<()> {
    match args.next().as_deref() {
        Some("storage") => {}
        other => bail!("unknown benchmark '{}'; available: storage, tenant", other.unwrap_or("")),
    }
    let opts = parse_options(args)?;
    let root = sh.current_dir();
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work)?;
    let programs = prepare_programs(sh, &root, &work)?;

    let mut rows = Vec::new();
    for &gib in &opts.sizes_gib {
        rows.extend(size_rows(&opts, &root, &work, &programs, gib)?);
    }
    print_table(&rows, &opts);
    Ok(())
}

/// Parses `--sizes-gib 1,4 --chunk-mib 8 --concurrency 8 --repeat 2` (the defaults).
fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options> {
    let mut opts = Options { sizes_gib: vec![1, 4], chunk_mib: 8, concurrency: 8, repeat: 2 };
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sizes-gib" => {
                opts.sizes_gib = value
                    .split(',')
                    .map(|s| s.trim().parse())
                    .collect::<Result<_, _>>()
                    .context("--sizes-gib takes numbers like 1,4")?
            }
            "--chunk-mib" => {
                opts.chunk_mib = value.parse().context("--chunk-mib takes a number")?
            }
            "--concurrency" => {
                opts.concurrency = value.parse().context("--concurrency takes a number")?
            }
            "--repeat" => opts.repeat = value.parse().context("--repeat takes a number")?,
            _ => bail!(
                "unknown option '{flag}'; options: --sizes-gib 1,4 --chunk-mib 8 --concurrency 8 --repeat 2"
            ),
        }
    }
    Ok(opts)
}

/// The programs the benchmark runs, besides `curl`.
struct Programs {
    transfer: PathBuf,
    make_abf: PathBuf,
    pbi_backup: PathBuf,
    python: PathBuf,
    azcopy: PathBuf,
    script: PathBuf,
}

/// Builds the emulator and adls-store's `transfer`, installs the peers, writes the Python script.
fn prepare_programs(sh: &Shell, root: &Path, work: &Path) -> Result<Programs> {
    cmd!(
        sh,
        "cargo build --release -p test-fixtures --bin dfs-emulator -p adls-store --example transfer -p abf-format --example make_abf -p backup-cli --bin pbi-backup"
    )
    .run()
    .context("building the emulator, pbi-backup and the transfer and make_abf examples")?;
    let python = python(sh, root)?;
    let azcopy = azcopy(sh, root)?;
    let script = work.join("bench_python.py");
    std::fs::write(&script, PY_SCRIPT)?;
    let transfer = root.join("target/release/examples/transfer");
    let make_abf = root.join("target/release/examples/make_abf");
    let pbi_backup = root.join("target/release/pbi-backup");
    Ok(Programs { transfer, make_abf, pbi_backup, python, azcopy, script })
}

/// Every client's rows for files of `gib` GiB, `opts.repeat` times, on a fresh emulator.
fn size_rows(
    opts: &Options,
    root: &Path,
    work: &Path,
    programs: &Programs,
    gib: u64,
) -> Result<Vec<Row>> {
    let src = work.join(format!("src-{gib}g.bin"));
    write_source(&src, gib)?;
    let emu = start_emulator(root, &work.join("emu-root"))?;
    let port = emu.port;
    let url = format!("http://127.0.0.1:{port}/devstoreaccount1");
    let dst = work.join("download.bin");
    let pass = Pass {
        gib,
        url: &url,
        src: &src,
        dst: &dst,
        work,
        programs,
        chunk: opts.chunk_mib.to_string(),
        conc: opts.concurrency.to_string(),
        chunk_bytes: (opts.chunk_mib << 20).to_string(),
    };
    let mut rows = Vec::new();
    let clients: [Client; 3] = [adls_store_and_copy_rows, azcopy_rows, python_rows];
    for rep in 0..opts.repeat {
        println!("-- {gib} GiB, run {} of {}", rep + 1, opts.repeat);
        // Each run starts with another client, so that no client is always the first to write after the emulator
        // started or the previous size's files went (on the 2-core VM it was written on, writes stall now and then,
        // whoever makes them; the best of runs in a rotated order is the fairest it could do).
        for i in 0..clients.len() {
            rows.extend(clients[(rep as usize + i) % clients.len()](&pass)?);
        }
    }
    rows.extend(backup_rows(&pass, &emu)?);
    drop(emu);
    let _ = std::fs::remove_dir_all(work.join("emu-root"));
    Ok(rows)
}

/// Writes `gib` GiB of /dev/urandom to `src`, unless it already has that size.
fn write_source(src: &Path, gib: u64) -> Result<()> {
    if std::fs::metadata(src).map(|m| m.len()).unwrap_or(0) != gib << 30 {
        println!("$ head -c {} /dev/urandom > {}", gib << 30, src.display());
        let out = std::fs::File::create(src)?;
        let status = Command::new("head")
            .args(["-c", &(gib << 30).to_string(), "/dev/urandom"])
            .stdout(out)
            .status()?;
        if !status.success() {
            bail!("could not write {}", src.display());
        }
    }
    Ok(())
}

/// One size on one emulator: the files, the emulator's URL and the clients' settings.
struct Pass<'a> {
    gib: u64,
    url: &'a str,
    src: &'a Path,
    dst: &'a Path,
    work: &'a Path,
    programs: &'a Programs,
    /// The chunk size in MiB, as an argument.
    chunk: String,
    /// The concurrency, as an argument.
    conc: String,
    /// The chunk size in bytes, as an argument.
    chunk_bytes: String,
}

impl Pass<'_> {
    /// The remote path (`FILESYSTEM/bench/...`) of `tool`'s file.
    fn remote(&self, tool: &str) -> String {
        format!("{FS}/bench/{tool}-{}g.bin", self.gib)
    }

    /// adls-store's `transfer OP LOCAL REMOTE` with the chunk size, concurrency and emulator.
    fn transfer(&self, op: &str, local: &str, remote: &str) -> Command {
        let mut c = Command::new(&self.programs.transfer);
        c.args([op, local, remote, "--chunk-mib", &self.chunk, "--concurrency", &self.conc]);
        c.env("PBI_BACKUP_ADLS_ACCOUNT", "devstoreaccount1")
            .env("PBI_BACKUP_ADLS_ENDPOINT", format!("{}/", self.url))
            .env("AZURE_STORAGE_KEY", KEY);
        c
    }
}

/// One client's rows for one run.
type Client = fn(&Pass<'_>) -> Result<Vec<Row>>;

/// adls-store's rows, then the copies of its file and curl of it (which removes it).
fn adls_store_and_copy_rows(p: &Pass<'_>) -> Result<Vec<Row>> {
    let mut rows = adls_store_rows(p)?;
    rows.extend(copy_rows(p)?);
    rows.push(curl_row(p)?);
    Ok(rows)
}

/// adls-store: upload without and with MD5, download to a file, download as a stream.
fn adls_store_rows(p: &Pass<'_>) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let nomd5 = p.remote("adls-store-nomd5");
    let mut c = p.transfer("upload", path_str(p.src)?, &nomd5);
    c.arg("--no-md5");
    rows.push(timed("adls-store (no MD5)", "upload", p.gib, c)?);
    clean(p.url, &[&nomd5], p.dst)?;
    let remote = p.remote("adls-store");
    let mut c = p.transfer("upload", path_str(p.src)?, &remote);
    // The stored MD5 is opt-in: this row measures the upload that stores it.
    c.arg("--md5");
    rows.push(timed("adls-store", "upload", p.gib, c)?);
    let c = p.transfer("download", path_str(p.dst)?, &remote);
    rows.push(timed("adls-store", "download", p.gib, c)?);
    same(p.src, p.dst)?;
    // Not needed again: at 8 GiB, the disk holds the source, the remote file and a copy at once.
    std::fs::remove_file(p.dst)?;
    let c = p.transfer("stream", "-", &remote);
    rows.push(timed("adls-store (stream)", "download", p.gib, c)?);
    Ok(rows)
}

/// The SHA-256 alone; then a copy of adls-store's uploaded file made by the service and one streamed through the
/// client, each to another folder, then removed.
fn copy_rows(p: &Pass<'_>) -> Result<Vec<Row>> {
    let hash = p.transfer("hash", path_str(p.src)?, "-");
    let mut rows = vec![timed("sha2 (SHA-256 alone)", "hash", p.gib, hash)?];
    let source = p.remote("adls-store");
    for (tool, op, name) in [
        ("adls-store (service copy)", "copy", "copies/service"),
        ("adls-store (streamed copy)", "stream-copy", "copies/streamed"),
    ] {
        let to = format!("{FS}/{name}-{}g.bin", p.gib);
        rows.push(timed(tool, "copy", p.gib, p.transfer(op, &to, &source))?);
        clean(p.url, &[&to], p.dst)?;
    }
    Ok(rows)
}

/// A generated backup of `gib` GiB, uploaded; then `pbi-backup verify` of it (the read-back every backup pays: the
/// whole file read and hashed, and its container checked), and `pbi-backup inspect` of it in storage, with the bytes
/// the emulator sent meanwhile.
fn backup_rows(p: &Pass<'_>, emu: &Emulator) -> Result<Vec<Row>> {
    let abf = p.work.join(format!("bench-{}g.abf", p.gib));
    if std::fs::metadata(&abf).map(|m| m.len()).unwrap_or(0) < p.gib << 30 {
        println!("$ make_abf {} {}", abf.display(), p.gib);
        let status =
            Command::new(&p.programs.make_abf).arg(&abf).arg(p.gib.to_string()).status()?;
        if !status.success() {
            bail!("make_abf failed");
        }
    }
    let file = format!("big-{}g.abf", p.gib);
    let remote = format!("{FS}/bench/{file}");
    let up = p.transfer("upload", path_str(&abf)?, &remote).output()?;
    if !up.status.success() {
        bail!("uploading {file} failed: {}", String::from_utf8_lossy(&up.stderr));
    }
    let pbi_backup = |command: &str| {
        let mut c = Command::new(&p.programs.pbi_backup);
        c.args([command, "--workspace", "bench", "--file", &file, "--json"])
            .current_dir(p.work)
            .env("PBI_BACKUP_ADLS_ACCOUNT", "devstoreaccount1")
            .env("PBI_BACKUP_ADLS_ENDPOINT", format!("{}/", p.url))
            .env("PBI_BACKUP_ADLS_AUTH", "key")
            .env("AZURE_STORAGE_KEY", KEY);
        c
    };
    let verify = timed("pbi-backup verify (read-back)", "download", p.gib, pbi_backup("verify"))?;
    let before = emulator_wchar(emu)?;
    let mut inspect = timed("pbi-backup inspect", "inspect", p.gib, pbi_backup("inspect"))?;
    inspect.client_bytes = Some(emulator_wchar(emu)? - before);
    // The model's definition of the same backup, read through ranged reads.
    let before = emulator_wchar(emu)?;
    let mut definition =
        timed("pbi-backup definition", "definition", p.gib, pbi_backup("definition"))?;
    definition.client_bytes = Some(emulator_wchar(emu)? - before);
    clean(p.url, &[&remote], p.dst)?;
    // Made again by the next run: the disk holds every size's source already.
    std::fs::remove_file(&abf)?;
    Ok(vec![verify, inspect, definition])
}

/// Bytes the emulator process has written, sockets included (`/proc/PID/io` wchar).
fn emulator_wchar(emu: &Emulator) -> Result<u64> {
    let io = std::fs::read_to_string(format!("/proc/{}/io", emu.child.id()))?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|v| v.trim().parse().ok())
        .context("no wchar in the emulator's /proc/PID/io")
}

/// curl of adls-store's file to /dev/null, the emulator's ceiling; then that file goes.
fn curl_row(p: &Pass<'_>) -> Result<Row> {
    let remote = p.remote("adls-store");
    let mut c = Command::new("curl");
    c.args(["-sS", "--fail", "-o", "/dev/null", &format!("{}/{remote}?{SAS}", p.url)]);
    let row = timed("curl (ceiling)", "download", p.gib, c)?;
    // Each client's files go before the next client starts, so that none works against a fuller
    // page cache.
    clean(p.url, &[&remote], p.dst)?;
    Ok(row)
}

/// azcopy, plain and with MD5: upload, download, compare, clean.
fn azcopy_rows(p: &Pass<'_>) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (tool, name, up_extra, down_extra) in [
        ("azcopy", "azcopy", None, None),
        ("azcopy (MD5)", "azcopy-md5", Some("--put-md5"), Some("--check-md5=FailIfDifferent")),
    ] {
        let az_url = format!("{}/{}?{SAS}", p.url, p.remote(name));
        for (op, from, to, from_to, extra) in [
            ("upload", path_str(p.src)?, az_url.as_str(), "LocalBlobFS", up_extra),
            ("download", az_url.as_str(), path_str(p.dst)?, "BlobFSLocal", down_extra),
        ] {
            let mut c = Command::new(&p.programs.azcopy);
            c.args([
                "copy",
                from,
                to,
                "--from-to",
                from_to,
                "--overwrite=true",
                "--block-size-mb",
                &p.chunk,
                "--log-level",
                "ERROR",
            ]);
            c.args(extra);
            c.env("AZCOPY_CONCURRENCY_VALUE", &p.conc)
                .env("AZCOPY_LOG_LOCATION", p.work.join("azcopy-logs"))
                .env("AZCOPY_JOB_PLAN_LOCATION", p.work.join("azcopy-plans"));
            rows.push(timed(tool, op, p.gib, c)?);
        }
        same(p.src, p.dst)?;
        clean(p.url, &[&p.remote(name)], p.dst)?;
    }
    Ok(rows)
}

/// The Python SDK, plain and with hashlib: upload, download, compare, clean.
fn python_rows(p: &Pass<'_>) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (tool, name, up, down) in [
        ("python-sdk", "python", "upload", "download"),
        ("python-sdk (hashlib)", "python-hashlib", "upload-hashed", "download-hashed"),
    ] {
        let py_remote = format!("bench/{name}-{}g.bin", p.gib);
        for (op, script_op, local) in [("upload", up, p.src), ("download", down, p.dst)] {
            let mut c = Command::new(&p.programs.python);
            c.args([
                path_str(&p.programs.script)?,
                script_op,
                p.url,
                FS,
                &py_remote,
                path_str(local)?,
                &p.chunk_bytes,
                &p.conc,
            ])
            .env("AZURE_STORAGE_KEY", KEY);
            rows.push(timed(tool, op, p.gib, c)?);
        }
        same(p.src, p.dst)?;
        clean(p.url, &[&format!("{FS}/{py_remote}")], p.dst)?;
    }
    Ok(rows)
}

/// Deletes the remote files (`FILESYSTEM/...`) through the emulator, and the local download.
fn clean(url: &str, remotes: &[&str], dst: &Path) -> Result<()> {
    for remote in remotes {
        let status = Command::new("curl")
            .args(["-sS", "--fail", "-o", "/dev/null", "-X", "DELETE"])
            .arg(format!("{url}/{remote}?{SAS}"))
            .status()
            .context("running curl")?;
        if !status.success() {
            bail!("could not delete {remote} from the emulator");
        }
    }
    match std::fs::remove_file(dst) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().with_context(|| format!("path {} is not UTF-8", p.display()))
}

fn same(a: &Path, b: &Path) -> Result<()> {
    let status = Command::new("cmp").arg("-s").arg(a).arg(b).status()?;
    if !status.success() {
        bail!("{} differs from {}", b.display(), a.display());
    }
    Ok(())
}

/// Writes back dirty pages, then runs `c` under `/usr/bin/time`, returning wall time, peak RSS and CPU time.
fn timed(tool: &'static str, op: &'static str, gib: u64, c: Command) -> Result<Row> {
    let report = std::env::temp_dir().join(format!("xtask-bench-time-{}", std::process::id()));
    let mut timed = Command::new("/usr/bin/time");
    timed.args(["-f", "%e %M %U %S", "-o"]).arg(&report).arg(c.get_program()).args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    println!("$ {tool} {op} {gib} GiB");
    let synced = Command::new("sync").status().context("running sync")?;
    if !synced.success() {
        bail!("sync failed");
    }
    let out = timed
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {tool}"))?;
    if !out.status.success() {
        bail!("{tool} {op} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = std::fs::read_to_string(&report)?;
    let last = text.lines().last().unwrap_or("");
    let mut parts = last.split_whitespace();
    let secs: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad time output '{last}'"))?;
    let mut field = || -> Result<f64> {
        parts
            .next()
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad time output '{last}'"))
    };
    let kib = field()?;
    let cpu = field()? + field()?;
    let client_bytes = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("client-bytes ").and_then(|n| n.trim().parse().ok()));
    Ok(Row {
        tool,
        op,
        gib,
        secs: secs.max(0.01),
        rss_mib: kib / 1024.0,
        cpu_secs: cpu,
        client_bytes,
    })
}

fn start_emulator(root: &Path, dir: &Path) -> Result<Emulator> {
    let _ = std::fs::remove_dir_all(dir);
    let mut child = Command::new(root.join("target/release/dfs-emulator"))
        .args(["--port", "0", "--root"])
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting dfs-emulator")?;
    let stdout = child.stdout.take().context("emulator stdout")?;
    let mut reader = std::io::BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // Keep draining its output so that it never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("unexpected emulator banner '{}'", line.trim()))?;
    println!("dfs-emulator on 127.0.0.1:{port}");
    Ok(Emulator { child, port })
}

fn python(sh: &Shell, root: &Path) -> Result<PathBuf> {
    if let Ok(p) = std::env::var("PBI_BACKUP_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = root.join("target/ci-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        cmd!(sh, "python3 -m venv {venv}").run()?;
    }
    let pip = venv.join("bin/pip");
    cmd!(
        sh,
        "{pip} install --quiet --disable-pip-version-check azure-storage-file-datalake==12.26.1"
    )
    .run()?;
    Ok(python)
}

fn azcopy(sh: &Shell, root: &Path) -> Result<PathBuf> {
    let tools = root.join("target/bench-tools");
    let bin = tools.join("node_modules/@azure-tools/azcopy-linux/dist/bin/azcopy_linux_amd64");
    if !bin.exists() {
        std::fs::create_dir_all(&tools)?;
        cmd!(sh, "npm install --prefix {tools} --no-audit --no-fund @azure-tools/azcopy-linux")
            .run()?;
    }
    cmd!(sh, "chmod +x {bin}").run()?;
    let starts = || cmd!(sh, "{bin} --version").ignore_stdout().ignore_stderr().run().is_ok();
    if !starts() {
        // azcopy links libsecret; a fresh machine lacks it. Installed as .ci/run installs what the tests need.
        println!("azcopy does not start: installing libsecret-1-0");
        let sudo = if cmd!(sh, "id -u").read()?.trim() == "0" { None } else { Some("sudo") };
        let apt = |args: &[&str]| {
            let mut c = std::process::Command::new(sudo.unwrap_or("apt-get"));
            if sudo.is_some() {
                c.arg("apt-get");
            }
            c.args(args).env("DEBIAN_FRONTEND", "noninteractive").status()
        };
        let installed = apt(&["update", "-qq"]).is_ok_and(|s| s.success())
            && apt(&["install", "-y", "-qq", "libsecret-1-0"]).is_ok_and(|s| s.success());
        if !installed || !starts() {
            bail!(
                "azcopy does not start, and libsecret-1-0 could not be installed: apt-get install libsecret-1-0"
            );
        }
    }
    Ok(bin)
}

/// The peers, and whether each does the integrity work adls-store does (hashes stored on upload, checked on download).
const PEERS: [(&str, bool); 4] = [
    ("azcopy", false),
    ("azcopy (MD5)", true),
    ("python-sdk", false),
    ("python-sdk (hashlib)", true),
];

fn print_table(rows: &[Row], opts: &Options) {
    println!();
    println!(
        "storage benchmark: chunk {} MiB, concurrency {} (AZCOPY_CONCURRENCY_VALUE, max_concurrency), best of {} runs, wall time of the whole command, sync before each",
        opts.chunk_mib, opts.concurrency, opts.repeat
    );
    let bound = (opts.concurrency * opts.chunk_mib + 64) as f64;
    println!(
        "{:<26} {:<9} {:>4} {:>7} {:>7} {:>7} {:>9} {:>8} {:>7} {:>9} {:>8} {:>9}",
        "client",
        "op",
        "GiB",
        "MiB/s",
        "time s",
        "CPU s",
        "CPU s/GiB",
        "RSS MiB",
        "RSS ok",
        "vs best",
        "vs same",
        "client MiB"
    );
    for &gib in &opts.sizes_gib {
        for op in ["upload", "download", "hash", "copy", "inspect", "definition"] {
            print_op(rows, gib, op, bound);
        }
    }
    println!(
        "RSS ok: peak RSS within concurrency x chunk + 64 MiB = {bound:.0} MiB (adls-store and pbi-backup rows). copy rows: vs best is the speed against the streamed copy; client MiB is what went through the client before verification. inspect, definition: client MiB is what the emulator sent."
    );
}

/// The best run of `tool` for `op` at `gib`: the fastest, with its CPU and client bytes, and the highest RSS of any.
fn best(rows: &[Row], tool: &str, op: &str, gib: u64) -> Option<(f64, f64, f64, Option<u64>)> {
    let mine: Vec<&Row> =
        rows.iter().filter(|r| r.tool == tool && r.op == op && r.gib == gib).collect();
    let fastest = mine.iter().min_by(|a, b| a.secs.total_cmp(&b.secs))?;
    let rss = mine.iter().map(|r| r.rss_mib).fold(0.0, f64::max);
    Some((fastest.secs, fastest.cpu_secs, rss, fastest.client_bytes))
}

/// The rows of one operation at one size, with their ratios.
fn print_op(rows: &[Row], gib: u64, op: &str, bound: f64) {
    let speed = |secs: f64| gib as f64 * 1024.0 / secs;
    let peer_best = |same_only: bool| {
        PEERS
            .iter()
            .filter(|(_, same)| *same || !same_only)
            .filter_map(|(t, _)| best(rows, t, op, gib))
            .map(|(s, ..)| speed(s))
            .fold(0.0, f64::max)
    };
    let (all, same) = if op == "copy" {
        (best(rows, "adls-store (streamed copy)", op, gib).map_or(0.0, |b| speed(b.0)), 0.0)
    } else {
        (peer_best(false), peer_best(true))
    };
    let ratio = |v: f64, to: f64| if to > 0.0 { format!("{:.2}x", v / to) } else { "-".into() };
    for tool in TOOLS {
        let Some((secs, cpu, rss, client)) = best(rows, tool, op, gib) else { continue };
        let v = speed(secs);
        // inspect and definition read a few blocks, not the file: a speed would mean nothing.
        let mib_s =
            if matches!(op, "inspect" | "definition") { "-".to_owned() } else { format!("{v:.0}") };
        let ours = tool.starts_with("adls-store") || tool.starts_with("pbi-backup");
        let rss_ok = if !ours {
            ""
        } else if rss <= bound {
            "yes"
        } else {
            "NO"
        };
        let client = client.map_or(String::new(), |b| format!("{:.3}", b as f64 / 1048576.0));
        println!(
            "{tool:<26} {op:<9} {gib:>4} {mib_s:>7} {secs:>7.2} {cpu:>7.2} {:>9.2} {rss:>8.0} {rss_ok:>7} {:>9} {:>8} {client:>9}",
            cpu / gib as f64,
            ratio(v, all),
            ratio(v, same)
        );
    }
}

/// Every row's client, in the table's order.
const TOOLS: [&str; 14] = [
    "adls-store",
    "adls-store (no MD5)",
    "adls-store (stream)",
    "pbi-backup verify (read-back)",
    "azcopy",
    "azcopy (MD5)",
    "python-sdk",
    "python-sdk (hashlib)",
    "curl (ceiling)",
    "sha2 (SHA-256 alone)",
    "adls-store (service copy)",
    "adls-store (streamed copy)",
    "pbi-backup inspect",
    "pbi-backup definition",
];
