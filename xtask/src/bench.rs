//! `cargo xtask bench storage`: adls-store against its peers (azcopy, the Python SDK) on the DFS emulator.
//!
//! Every client moves the same files (1 GiB and 4 GiB by default) up and down through one emulator, with the same
//! chunk size and concurrency; `curl` to /dev/null of the same file gives the emulator's ceiling. Each transfer is
//! timed as a whole command (`/usr/bin/time`, so process start-up counts) with its peak RSS, repeated, and the best
//! time is kept (the machine is shared). The table shows MiB/s, peak RSS and the ratio to the best peer.
//!
//! `adls-store download` is `download_to_file`: SHA-256 verified, written to a temporary name, synced to disk, then
//! renamed. The peers neither verify nor sync. `adls-store (stream)` reads the same file through the verified stream
//! and discards it, which compares with `curl -o /dev/null`. `adls-store (no MD5)` uploads with
//! `store_content_md5 = false` (the SHA-256 is still computed and kept), which shows what the stored MD5 costs.

#![allow(clippy::print_stdout, reason = "a benchmark reports on its terminal")]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IfsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const SAS: &str = "sv=2023-11-03&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=bench";
const FS: &str = "power-bi-backup";

const PY_SCRIPT: &str = r#"
import os, sys
from azure.storage.filedatalake import DataLakeServiceClient
op, url, fs, remote, local, chunk, conc = sys.argv[1:8]
chunk, conc = int(chunk), int(conc)
svc = DataLakeServiceClient(account_url=url,
    credential={"account_name": "devstoreaccount1", "account_key": os.environ["AZURE_STORAGE_KEY"]},
    max_single_get_size=chunk, max_chunk_get_size=chunk)
f = svc.get_file_system_client(fs).get_file_client(remote)
if op == "upload":
    with open(local, "rb") as src:
        f.upload_data(src, overwrite=True, max_concurrency=conc, chunk_size=chunk)
else:
    with open(local, "wb") as dst:
        f.download_file(max_concurrency=conc).readinto(dst)
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

pub(crate) fn run(sh: &Shell, mut args: impl Iterator<Item = String>) -> Result<()> {
    match args.next().as_deref() {
        Some("storage") => {}
        other => bail!("unknown benchmark '{}'; available: storage", other.unwrap_or("")),
    }
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
    let root = sh.current_dir();
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work)?;

    cmd!(
        sh,
        "cargo build --release -p test-fixtures --bin dfs-emulator -p adls-store --example transfer"
    )
    .run()
    .context("building the emulator and the adls-store transfer example")?;
    let python = python(sh, &root)?;
    let azcopy = azcopy(sh, &root)?;
    let script = work.join("bench_python.py");
    std::fs::write(&script, PY_SCRIPT)?;

    let mut rows = Vec::new();
    for &gib in &opts.sizes_gib {
        let src = work.join(format!("src-{gib}g.bin"));
        if std::fs::metadata(&src).map(|m| m.len()).unwrap_or(0) != gib << 30 {
            println!("$ head -c {} /dev/urandom > {}", gib << 30, src.display());
            let out = std::fs::File::create(&src)?;
            let status = Command::new("head")
                .args(["-c", &(gib << 30).to_string(), "/dev/urandom"])
                .stdout(out)
                .status()?;
            if !status.success() {
                bail!("could not write {}", src.display());
            }
        }
        let emu = start_emulator(&root, &work.join("emu-root"))?;
        let port = emu.port;
        let url = format!("http://127.0.0.1:{port}/devstoreaccount1");
        let dst = work.join("download.bin");
        for rep in 0..opts.repeat {
            println!("-- {gib} GiB, run {} of {}", rep + 1, opts.repeat);
            let chunk = opts.chunk_mib.to_string();
            let conc = opts.concurrency.to_string();
            let transfer = root.join("target/release/examples/transfer");
            let ours_env = |c: &mut Command| {
                c.env("PBI_BACKUP_ADLS_ACCOUNT", "devstoreaccount1")
                    .env("PBI_BACKUP_ADLS_ENDPOINT", format!("{url}/"))
                    .env("AZURE_STORAGE_KEY", KEY);
            };
            let remote = |tool: &str| format!("{FS}/bench/{tool}-{gib}g.bin");

            // adls-store
            let mut c = Command::new(&transfer);
            c.args([
                "upload",
                path_str(&src)?,
                &remote("adls-store"),
                "--chunk-mib",
                &chunk,
                "--concurrency",
                &conc,
            ]);
            ours_env(&mut c);
            rows.push(timed("adls-store", "upload", gib, c)?);
            let mut c = Command::new(&transfer);
            c.args([
                "upload",
                path_str(&src)?,
                &remote("adls-store-nomd5"),
                "--chunk-mib",
                &chunk,
                "--concurrency",
                &conc,
                "--no-md5",
            ]);
            ours_env(&mut c);
            rows.push(timed("adls-store (no MD5)", "upload", gib, c)?);
            let mut c = Command::new(&transfer);
            c.args([
                "download",
                path_str(&dst)?,
                &remote("adls-store"),
                "--chunk-mib",
                &chunk,
                "--concurrency",
                &conc,
            ]);
            ours_env(&mut c);
            rows.push(timed("adls-store", "download", gib, c)?);
            same(&src, &dst)?;
            let mut c = Command::new(&transfer);
            c.args([
                "stream",
                "-",
                &remote("adls-store"),
                "--chunk-mib",
                &chunk,
                "--concurrency",
                &conc,
            ]);
            ours_env(&mut c);
            rows.push(timed("adls-store (stream)", "download", gib, c)?);

            // azcopy
            let az_url = format!("{url}/{}?{SAS}", remote("azcopy"));
            let az_env = |c: &mut Command| {
                c.env("AZCOPY_CONCURRENCY_VALUE", &conc)
                    .env("AZCOPY_LOG_LOCATION", work.join("azcopy-logs"))
                    .env("AZCOPY_JOB_PLAN_LOCATION", work.join("azcopy-plans"));
            };
            let mut c = Command::new(&azcopy);
            c.args([
                "copy",
                path_str(&src)?,
                &az_url,
                "--from-to",
                "LocalBlobFS",
                "--overwrite=true",
                "--block-size-mb",
                &chunk,
                "--log-level",
                "ERROR",
            ]);
            az_env(&mut c);
            rows.push(timed("azcopy", "upload", gib, c)?);
            let mut c = Command::new(&azcopy);
            c.args([
                "copy",
                &az_url,
                path_str(&dst)?,
                "--from-to",
                "BlobFSLocal",
                "--overwrite=true",
                "--block-size-mb",
                &chunk,
                "--log-level",
                "ERROR",
            ]);
            az_env(&mut c);
            rows.push(timed("azcopy", "download", gib, c)?);
            same(&src, &dst)?;

            // Python SDK
            let chunk_bytes = (opts.chunk_mib << 20).to_string();
            let py_remote = format!("bench/python-{gib}g.bin");
            for op in ["upload", "download"] {
                let local = if op == "upload" { &src } else { &dst };
                let mut c = Command::new(&python);
                c.args([
                    path_str(&script)?,
                    op,
                    &url,
                    FS,
                    &py_remote,
                    path_str(local)?,
                    &chunk_bytes,
                    &conc,
                ])
                .env("AZURE_STORAGE_KEY", KEY);
                rows.push(timed(
                    "python-sdk",
                    if op == "upload" { "upload" } else { "download" },
                    gib,
                    c,
                )?);
            }
            same(&src, &dst)?;

            // curl: the emulator's ceiling.
            let mut c = Command::new("curl");
            c.args([
                "-sS",
                "--fail",
                "-o",
                "/dev/null",
                &format!("{url}/{}?{SAS}", remote("adls-store")),
            ]);
            rows.push(timed("curl (ceiling)", "download", gib, c)?);
            let _ = std::fs::remove_file(&dst);
        }
        drop(emu);
    }
    print_table(&rows, &opts);
    Ok(())
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

/// Runs `c` under `/usr/bin/time`, returning wall time and peak RSS.
fn timed(tool: &'static str, op: &'static str, gib: u64, c: Command) -> Result<Row> {
    let report = std::env::temp_dir().join(format!("xtask-bench-time-{}", std::process::id()));
    let mut timed = Command::new("/usr/bin/time");
    timed.args(["-f", "%e %M", "-o"]).arg(&report).arg(c.get_program()).args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    println!("$ {tool} {op} {gib} GiB");
    let out = timed
        .stdout(Stdio::null())
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
    let kib: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad time output '{last}'"))?;
    Ok(Row { tool, op, gib, secs: secs.max(0.01), rss_mib: kib / 1024.0 })
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
    if cmd!(sh, "{bin} --version").ignore_stdout().ignore_stderr().run().is_err() {
        bail!("azcopy does not start; it needs libsecret: apt-get install libsecret-1-0");
    }
    Ok(bin)
}

fn print_table(rows: &[Row], opts: &Options) {
    println!();
    println!(
        "storage benchmark: chunk {} MiB, concurrency {} (AZCOPY_CONCURRENCY_VALUE, max_concurrency), best of {} runs, wall time of the whole command",
        opts.chunk_mib, opts.concurrency, opts.repeat
    );
    println!(
        "{:<20} {:<9} {:>5} {:>9} {:>10} {:>13} {:>14}",
        "client", "op", "GiB", "MiB/s", "time s", "peak RSS MiB", "vs best peer"
    );
    let tools = [
        "adls-store",
        "adls-store (no MD5)",
        "adls-store (stream)",
        "azcopy",
        "python-sdk",
        "curl (ceiling)",
    ];
    for &gib in &opts.sizes_gib {
        for op in ["upload", "download"] {
            let best = |tool: &str| {
                let mine: Vec<&Row> =
                    rows.iter().filter(|r| r.tool == tool && r.op == op && r.gib == gib).collect();
                let secs = mine.iter().map(|r| r.secs).fold(f64::INFINITY, f64::min);
                let rss = mine.iter().map(|r| r.rss_mib).fold(0.0, f64::max);
                (!mine.is_empty()).then_some((secs, rss))
            };
            let peer_best = ["azcopy", "python-sdk"]
                .iter()
                .filter_map(|t| best(t))
                .map(|(s, _)| (gib as f64 * 1024.0) / s)
                .fold(0.0, f64::max);
            for tool in tools {
                let Some((secs, rss)) = best(tool) else { continue };
                let speed = gib as f64 * 1024.0 / secs;
                let ratio =
                    if peer_best > 0.0 { format!("{:.2}x", speed / peer_best) } else { "-".into() };
                println!(
                    "{tool:<20} {op:<9} {gib:>5} {speed:>9.0} {secs:>10.2} {rss:>13.0} {ratio:>14}"
                );
            }
        }
    }
}
