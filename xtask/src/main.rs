//! Contributor tasks, run as `cargo xtask <task>`.
//!
//! Kept small on purpose (anyhow and xshell only) so that it compiles in seconds. Each task prints the commands it
//! runs; a failing command stops the task with its exit status.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a contributor tool reports on its terminal"
)]

mod bench;
mod demo;
mod sim;
mod tenant_bench;
mod tidy;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

const HELP: &str = "\
cargo xtask <task>

tasks:
  ci               cargo fmt --check, tidy, cargo clippy -D warnings, the whole test suite, the contract check of
                   its pbi-sim traffic against the Power BI REST API description, cargo check for Windows,
                   cargo doc -D warnings
  bench storage    adls-store vs azcopy and the Python SDK on the DFS emulator (1 and 4 GiB; MiB/s, peak RSS)
  bench tenant     pbi-backup run over 1,000 models in a simulated tenant that throttles (wall vs ideal, REST calls)
  demo             start the Power BI simulator (demo tenant) and run the main job through the real CLI
  fuzz [SECONDS]   run the xmla-proto response-parser fuzz target (needs nightly and cargo-fuzz)
  man [DIR]        write shell completions and the man pages, one per subcommand (default: target/assets)
  tidy             the architecture invariants: layers, printing, cfg(unix), function lengths, dependencies
";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    match task.as_deref() {
        Some("ci") => ci(&sh),
        Some("fuzz") => fuzz(&sh, args.next()),
        Some("bench") => {
            let mut args = args.peekable();
            if args.peek().map(String::as_str) == Some("tenant") {
                args.next();
                tenant_bench::run(&sh, args)
            } else {
                bench::run(&sh, args)
            }
        }
        Some("demo") => demo::run(&sh),
        Some("tidy") => tidy::task(&project_root()),
        Some("man") => man(&sh, args.next()),
        Some("help" | "--help" | "-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => bail!("unknown task '{other}'; run 'cargo xtask help' for the list"),
    }
}

fn project_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits one level below the root")
        .into()
}

fn ci(sh: &Shell) -> Result<()> {
    cmd!(sh, "cargo fmt --all -- --check")
        .run()
        .context("formatting differs: run 'cargo fmt --all'")?;
    tidy::task(&project_root())?;
    cmd!(sh, "cargo clippy --workspace --all-targets --locked -- -D warnings")
        .run()
        .context("clippy found problems")?;
    // Every test's pbi-sim writes its traffic here, and the contract check reads all of it afterwards.
    let traffic = project_root().join("target/contract-traffic");
    if traffic.exists() {
        std::fs::remove_dir_all(&traffic)
            .with_context(|| format!("cannot empty {}", traffic.display()))?;
    }
    cmd!(sh, "cargo test --workspace --locked")
        .env("PBI_SIM_TRAFFIC_DIR", &traffic)
        .run()
        .context("tests failed")?;
    contracts(sh, &traffic)?;
    windows(sh)?;
    packages(sh)?;
    // The API documentation builds without a warning: no broken link, no link to a private item.
    cmd!(sh, "cargo doc --workspace --no-deps --locked")
        .env("RUSTDOCFLAGS", "-D warnings")
        .run()
        .context("cargo doc found problems")?;
    Ok(())
}

/// The contract check (`test-fixtures/contracts/check.py`) over the pbi-sim traffic in `traffic`: every REST request
/// and answer held to the published Power BI REST API description. It needs a python with `jsonschema`
/// (`PBI_BACKUP_PYTHON`, which `.ci/run` sets); without one it says that it did not run, unless
/// `PBI_BACKUP_REQUIRE_PYTHON=1`.
fn contracts(sh: &Shell, traffic: &std::path::Path) -> Result<()> {
    let Some(python) = std::env::var_os("PBI_BACKUP_PYTHON") else {
        return did_not_run(
            "the contract check",
            "PBI_BACKUP_REQUIRE_PYTHON",
            "PBI_BACKUP_PYTHON (a python with jsonschema) is not set",
        );
    };
    let contracts = project_root().join("test-fixtures/contracts");
    let (check, spec) = (contracts.join("check.py"), contracts.join("powerbi/swagger.json"));
    cmd!(sh, "{python} {check} {spec} {traffic}").run().context(
        "pbi-sim's traffic does not hold to the published Power BI REST API description",
    )?;
    Ok(())
}

/// A check that cannot run here, because `why`: said, or an error when the variable `require` is `1` (as `.ci/run`
/// sets it once it has installed what the check needs).
fn did_not_run(check: &str, require: &str, why: &str) -> Result<()> {
    if std::env::var(require).as_deref() == Ok("1") {
        bail!("{require}=1 but {check} cannot run: {why}");
    }
    println!("{check} did not run: {why}");
    Ok(())
}

/// The tool and its libraries type-check for Windows (`x86_64-pc-windows-gnu`), where most Power BI administrators
/// work: nothing unix-only outside `cfg(unix)`. It needs the target's standard library and the MinGW C compiler (the
/// C parts of ring, SQLite and the XPress9 decoder); without them it says that it did not run, unless
/// `PBI_BACKUP_REQUIRE_WINDOWS=1` (which `.ci/run` sets once it has installed both).
fn windows(sh: &Shell) -> Result<()> {
    let target = "x86_64-pc-windows-gnu";
    let installed = cmd!(sh, "rustup target list --installed").read().unwrap_or_default();
    let compiler =
        cmd!(sh, "x86_64-w64-mingw32-gcc --version").quiet().ignore_stdout().run().is_ok();
    if !installed.lines().any(|l| l.trim() == target) || !compiler {
        return did_not_run(
            "the Windows check",
            "PBI_BACKUP_REQUIRE_WINDOWS",
            &format!(
                "the {target} target or x86_64-w64-mingw32-gcc is missing: install them with 'rustup target add {target}' and MinGW (gcc-mingw-w64-x86-64)"
            ),
        );
    }
    cmd!(sh, "cargo check --target {target} -p backup-cli --locked")
        .run()
        .context("pbi-backup does not build for Windows")?;
    Ok(())
}

/// The library crates package what a user of each needs (its code, examples and README, whose examples are
/// doctests) and nothing of the repository's tests and data. Whether to publish them is a decision not taken here.
fn packages(sh: &Shell) -> Result<()> {
    for krate in ["xmla-proto", "abf-format", "adls-store", "backup-core"] {
        let list = cmd!(sh, "cargo package --list --allow-dirty -p {krate}").quiet().read()?;
        let files: Vec<&str> = list.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let stray: Vec<&&str> = files
            .iter()
            .filter(|f| {
                !(f.starts_with("src/")
                    || f.starts_with("examples/")
                    || f.starts_with("Cargo.")
                    || **f == "README.md"
                    || **f == ".cargo_vcs_info.json")
            })
            .collect();
        if !stray.is_empty() || !files.contains(&"README.md") || !files.contains(&"src/lib.rs") {
            bail!(
                "the package of {krate} holds {stray:?} or lacks its README or src/lib.rs: {files:?}"
            );
        }
        println!("package of {krate}: {} files, README included, no tests or data", files.len());
    }
    Ok(())
}

fn fuzz(sh: &Shell, seconds: Option<String>) -> Result<()> {
    let seconds = seconds.unwrap_or_else(|| "60".to_owned());
    seconds
        .parse::<u64>()
        .with_context(|| format!("fuzz duration '{seconds}' is not a number of seconds"))?;
    let max_time = format!("-max_total_time={seconds}");
    sh.change_dir("xmla-proto");
    cmd!(sh, "cargo +nightly fuzz run response_parser -- {max_time}").run().context(
        "cargo fuzz failed: install it with 'cargo install cargo-fuzz' and a nightly toolchain",
    )?;
    Ok(())
}

fn man(sh: &Shell, dir: Option<String>) -> Result<()> {
    let dir = dir.unwrap_or_else(|| "target/assets".to_owned());
    sh.create_dir(&dir)?;
    cmd!(sh, "cargo build --quiet -p backup-cli").run()?;
    let bin = "target/debug/pbi-backup";
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = cmd!(sh, "{bin} completions {shell}").read()?;
        sh.write_file(format!("{dir}/pbi-backup.{shell}"), out)?;
    }
    let page = cmd!(sh, "{bin} completions man").read()?;
    sh.write_file(format!("{dir}/pbi-backup.1"), page)?;
    let names = cmd!(sh, "{bin} completions man --list").read()?;
    let mut written = 1;
    for name in names.lines().filter(|n| !n.trim().is_empty()) {
        let page = cmd!(sh, "{bin} completions man {name}").read()?;
        sh.write_file(format!("{dir}/pbi-backup-{name}.1"), page)?;
        written += 1;
    }
    println!("wrote completions for 5 shells and {written} man pages to {dir}");
    Ok(())
}
