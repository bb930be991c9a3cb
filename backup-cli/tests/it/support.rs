//! Starting a simulated tenant and running the real binary against it.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use backup_core::output::{
    BackupOutput, BackupResult, ErrorInfo, ErrorOutput, RestoreOutput, exit_codes,
};
use serde::de::DeserializeOwned;
use test_fixtures::tenant::TestTenant;
pub use test_fixtures::tenant::{BOT, BOT_SECRET, RULES_SCENARIO as RULES};

pub const BIN: &str = env!("CARGO_BIN_EXE_pbi-backup");

/// A running tenant (the shared [`TestTenant`]) and a clean working folder for the binary.
pub struct Tenant {
    tenant: TestTenant,
    /// The current folder of every run (holds no pbi-backup.toml unless a test writes one).
    pub work: tempfile::TempDir,
}

impl Deref for Tenant {
    type Target = TestTenant;

    fn deref(&self) -> &TestTenant {
        &self.tenant
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// Decodes stdout as one JSON document of type `T` (the report types deny unknown fields).
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout of {:?} is not the expected JSON ({e}):\n{}\nstderr:\n{}",
                self.args, self.stdout, self.stderr
            )
        })
    }

    /// Decodes the error document printed when the command fails as a whole.
    pub fn error(&self) -> ErrorOutput {
        self.json()
    }

    /// [`Run::expect`], keeping the run.
    #[track_caller]
    pub fn expecting(self, code: i32) -> Self {
        self.expect(code);
        self
    }

    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "pbi-backup {:?} exited {} (expected {code})\nstdout:\n{}\nstderr:\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }
}

/// The environment of a run.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub vars: Vec<(String, String)>,
    pub dir: Option<PathBuf>,
}

impl Env {
    pub fn set(mut self, k: &str, v: &str) -> Env {
        self.vars.retain(|(n, _)| n != k);
        self.vars.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn unset(mut self, k: &str) -> Env {
        self.vars.retain(|(n, _)| n != k);
        self
    }

    pub fn in_dir(mut self, dir: &Path) -> Env {
        self.dir = Some(dir.to_owned());
        self
    }
}

impl Tenant {
    pub async fn rules() -> Tenant {
        Tenant::start(RULES).await
    }

    pub async fn start(scenario: &str) -> Tenant {
        Tenant {
            tenant: TestTenant::start(scenario).await,
            work: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The service principal `backup-bot` signed in, no storage.
    pub fn env_no_storage(&self) -> Env {
        Env { vars: self.bot_env(), dir: None }
    }

    /// `backup-bot` with the storage account `account` configured.
    pub fn env(&self, account: &str) -> Env {
        Env { vars: self.bot_env_with_storage(account), dir: None }
    }

    /// A command line to run against this tenant, written as a shell would split it (`'Sales Analytics'` is one
    /// argument); [`Cli::arg`] adds one argument as it is. Its methods run it and check how it ended.
    pub fn cli<'a>(&'a self, env: &'a Env, line: &str) -> Cli<'a> {
        let args = shlex::split(line)
            .unwrap_or_else(|| panic!("the command line {line:?} does not split"));
        Cli { tenant: self, env, args }
    }

    /// `pbi-backup ARGS --json`: asserts the exit code and decodes the report (or the error document).
    pub async fn report<T: DeserializeOwned>(&self, env: &Env, code: i32, args: &[&str]) -> T {
        let args = [args, &["--json"]].concat();
        let run = self.run(env, &args).await;
        run.expect(code);
        run.json()
    }

    /// `pbi-backup ARGS --json`, which fails as a whole with `code`: the error it reports.
    pub async fn failure(&self, env: &Env, code: i32, args: &[&str]) -> ErrorInfo {
        self.report::<ErrorOutput>(env, code, args).await.error
    }

    /// `backup -w WORKSPACE -d DATASET`, which succeeds: its one result.
    pub async fn backup(&self, env: &Env, workspace: &str, dataset: &str) -> BackupResult {
        let args = ["backup", "-w", workspace, "-d", dataset];
        let out: BackupOutput = self.report(env, exit_codes::SUCCESS, &args).await;
        assert_eq!((out.succeeded, out.failed, out.results.len()), (1, 0, 1), "{out:?}");
        out.results.into_iter().next().expect("one result")
    }

    /// The manifest of `file` in `workspace`'s backup folder of the storage account `account`, read directly.
    pub async fn manifest(
        &self,
        account: &str,
        workspace: &str,
        file: &str,
    ) -> backup_core::manifest::Manifest {
        let store = self.stack.store(account).expect("the account");
        let name = backup_core::manifest::Manifest::name_for(file);
        let path =
            adls_store::StorePath::file("power-bi-backup", workspace, &name).expect("a path");
        let bytes = adls_store::StoreExt::get_bytes(&store, &path).await.expect("the manifest");
        serde_json::from_slice(&bytes).expect("a manifest")
    }

    /// `restore ARGS`, which succeeds: its report.
    pub async fn restore(&self, env: &Env, args: &[&str]) -> RestoreOutput {
        self.report(env, exit_codes::SUCCESS, &[&["restore"], args].concat()).await
    }

    /// Runs the binary with exactly `env` (nothing inherited but PATH), in the tenant's work folder unless `env`
    /// names another. The tenant keeps serving on this runtime while the child runs on a blocking thread.
    pub async fn run(&self, env: &Env, args: &[&str]) -> Run {
        let dir = env.dir.clone().unwrap_or_else(|| self.work.path().to_owned());
        run_bin(env, &dir, args).await
    }
}

/// One command line, and what it must end in. A new end-to-end case is a line or two:
///
/// ```ignore
/// let err = t.cli(&env, "backup -w Finanse -d Budget").fails(exit_codes::USAGE).await;
/// assert!(err.message.contains("did you mean 'Finance'"));
/// let out: BackupOutput = t.cli(&env, "backup -w Finance --all").ok().await;
/// ```
pub struct Cli<'a> {
    tenant: &'a Tenant,
    env: &'a Env,
    args: Vec<String>,
}

impl Cli<'_> {
    /// Adds one argument, as it is (a name from a variable, with spaces or quotes in it).
    pub fn arg(mut self, arg: impl AsRef<str>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds the arguments of `line`, split as a shell would.
    pub fn then(mut self, line: &str) -> Self {
        self.args.extend(shlex::split(line).unwrap_or_else(|| panic!("{line:?} does not split")));
        self
    }

    /// With `--json`: asserts the exit code and decodes the document (the report types deny unknown fields).
    pub async fn json<T: DeserializeOwned>(self, code: i32) -> T {
        self.arg("--json").exits(code).await.json()
    }

    /// With `--json`, a command that succeeds: its report.
    pub async fn ok<T: DeserializeOwned>(self) -> T {
        self.json(exit_codes::SUCCESS).await
    }

    /// With `--json`, a command that fails as a whole with `code`: the error it reports.
    pub async fn fails(self, code: i32) -> ErrorInfo {
        self.json::<ErrorOutput>(code).await.error
    }

    /// As written (`--json` only if the line has it): asserts the exit code.
    pub async fn exits(self, code: i32) -> Run {
        let run = self.run().await;
        run.expect(code);
        run
    }

    /// As written, whatever it exits with.
    pub async fn run(self) -> Run {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.tenant.run(self.env, &args).await
    }
}

/// Runs the binary without a tenant (still hermetic: cleared environment, a temp folder as current folder).
pub async fn run_bin(env: &Env, dir: &Path, args: &[&str]) -> Run {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let vars = env.vars.clone();
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let out = command(&vars, &dir, &args).output().expect("the binary runs");
        let run = Run {
            args,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: started.elapsed(),
        };
        check_json(&run);
        run
    })
    .await
    .expect("the runner thread")
}

/// Every `--json` run prints exactly one JSON document, and a failure of the whole command prints the error document
/// with the exit code it exits with. Only clap's own usage errors (exit 2, before any command runs) print nothing.
fn check_json(run: &Run) {
    if !run.args.iter().any(|a| a == "--json") || run.args.iter().any(|a| a == "completions") {
        return;
    }
    if run.stdout.trim().is_empty() {
        assert_eq!(run.code, backup_core::output::exit_codes::USAGE, "{run:?} printed no JSON");
        assert!(!run.stderr.is_empty(), "{run:?} says nothing");
        return;
    }
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!("{:?} printed more or less than one JSON document ({e}):\n{}", run.args, run.stdout)
    });
    if doc.get("error").is_some() {
        let err: ErrorOutput = serde_json::from_value(doc)
            .unwrap_or_else(|e| panic!("{:?}: the error document does not decode ({e})", run.args));
        assert_eq!(
            err.error.exit_code, run.code,
            "{run:?}: the error document's exit code is not the exit code"
        );
        assert_ne!(
            run.code,
            backup_core::output::exit_codes::SUCCESS,
            "{run:?}: an error document with exit 0"
        );
    }
}

/// `env` run in a fresh folder holding `config` as its `pbi-backup.toml`; the folder lasts as long as the guard.
pub fn with_config(env: &Env, config: &str) -> (Env, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pbi-backup.toml"), config).unwrap();
    (env.clone().in_dir(dir.path()), dir)
}

/// The binary with exactly `vars` set (nothing inherited but PATH), in `dir`, stdin closed.
pub fn command(vars: &[(String, String)], dir: &Path, args: &[String]) -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // A HOME with no .config/pbi-backup in it, so no user configuration is found.
        .env("HOME", dir)
        .env("PBI_BACKUP_NO_PROGRESS", "1")
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(dir)
        .stdin(std::process::Stdio::null());
    cmd
}

/// The words of a command line written as one string (no quoting: for arguments without spaces).
pub fn words(line: &'static str) -> Vec<&'static str> {
    line.split_whitespace().collect()
}

/// Changes one byte in the middle of the file at `path`, in place (same size): bytes replaced underneath.
pub fn flip_middle_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(path, &bytes).unwrap();
}

/// SHA-256 in lowercase hex.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// A whole `.abf` written by abf-format, with the given tables.
pub fn model_abf(name: &str, tables: &[&str]) -> Vec<u8> {
    let spec = abf_format::ModelSpec {
        name: name.to_owned(),
        compatibility_level: 1600,
        tables: tables
            .iter()
            .map(|t| abf_format::TableSpec {
                name: (*t).to_owned(),
                partitions: vec![(*t).to_owned()],
            })
            .collect(),
        expressions: Vec::new(),
        roles: Vec::new(),
        data_source_version: None,
    };
    abf_format::write_model(
        std::io::Cursor::new(Vec::new()),
        &spec,
        &[],
        abf_format::WriterOptions::default(),
    )
    .expect("the model is written")
    .into_inner()
}

/// Starts the binary with `args` in the background (stdout and stderr piped) and waits until `file` holds bytes:
/// the transfer it makes has begun.
pub async fn spawn_until_written(
    env: &Env,
    dir: &Path,
    args: &[String],
    file: &Path,
) -> std::process::Child {
    let child = command(&env.vars, dir, args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let started = Instant::now();
    while std::fs::metadata(file).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "{args:?} writes nothing to {file:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child
}
