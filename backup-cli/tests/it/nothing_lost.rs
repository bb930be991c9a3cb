//! Nothing lost, whoever else touches the storage: folders other tools fill (subfolders `list` does not show), and
//! link changes the caller may not make.

use backup_core::output::{StorageChange, exit_codes};

use crate::commands::backup_one;
use crate::support::Tenant;

/// A SAS the DFS emulator takes (it checks no SAS signature): how another tool writes into the account here.
const SAS: &str =
    "sv=2023-11-03&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=b3RoZXItdG9vbA%3D%3D";

/// Writes `path` (below the filesystem, subfolders made as the service makes them) into `account` as another tool
/// would: DFS create, append, flush, with no hash kept.
pub(crate) async fn place(t: &Tenant, account: &str, path: &str, bytes: &[u8]) {
    let mut url = reqwest::Url::parse(&t.stack.emulators[account].endpoint()).unwrap();
    url.path_segments_mut().unwrap().pop_if_empty().push("power-bi-backup").extend(path.split('/'));
    let http = reqwest::Client::new();
    let ok = |r: reqwest::Response| {
        assert!(r.status().is_success(), "{} answered {}", r.url(), r.status());
    };
    ok(http.put(format!("{url}?resource=file&{SAS}")).send().await.unwrap());
    let append = format!("{url}?action=append&position=0&{SAS}");
    ok(http.patch(append).body(bytes.to_vec()).send().await.unwrap());
    let flush = format!("{url}?action=flush&position={}&{SAS}", bytes.len());
    ok(http.patch(flush).send().await.unwrap());
}

/// Downloads `Finance/<file>` (with its manifest) into a new folder `kept` of the work folder, as a user keeps one.
async fn download_kept(t: &Tenant, env: &crate::support::Env, file: &str) -> std::path::PathBuf {
    let kept = t.work.path().join("kept");
    std::fs::create_dir(&kept).unwrap();
    t.cli(env, "download -w Finance --file")
        .arg(file)
        .then("--to")
        .arg(kept.to_str().unwrap())
        .ok::<backup_core::output::TransferOutput>()
        .await;
    kept
}

/// The paths below `power-bi-backup/<folder>/` in `account`.
fn below(t: &Tenant, account: &str, folder: &str) -> Vec<String> {
    let prefix = format!("{folder}/");
    let mut paths: Vec<String> = t.stack.emulators[account]
        .paths("power-bi-backup")
        .into_iter()
        .filter_map(|p| p.strip_prefix(&prefix).map(str::to_owned))
        .collect();
    paths.sort();
    paths
}

#[tokio::test(flavor = "multi_thread")]
async fn relink_moves_the_whole_folder_subfolders_included() {
    let t = Tenant::rules().await;
    let env = t.env("tenantlake");
    let file = backup_one(&t, &env, "Personal Premium", "Forecast").await;
    // Another tool's archive, in subfolders `list` does not show.
    place(&t, "tenantlake", "Personal Premium/Archive/2024/Sales.abf", b"archived backup").await;

    let change: StorageChange = t.cli(&env, "storage relink -w 'Personal Premium'").ok().await;
    let renamed = change.renamed_folder_to.expect("the folder was renamed");
    let moved = renamed.trim_start_matches("power-bi-backup/");
    let held = below(&t, "tenantlake", moved);
    for expected in [file.as_str(), "Archive/2024/Sales.abf"] {
        assert!(held.iter().any(|p| p == expected), "{expected} is not in {renamed}: {held:?}");
    }
    let data = t.stack.emulators["tenantlake"]
        .data_file("power-bi-backup", &format!("{moved}/Archive/2024/Sales.abf"))
        .expect("the archived file is stored");
    assert_eq!(std::fs::read(data).unwrap(), b"archived backup");

    // A folder that holds only a subfolder is not empty: it is renamed too, never deleted.
    place(&t, "tenantlake", "Personal Premium/Archive/Old.abf", b"old backup").await;
    let change: StorageChange = t.cli(&env, "storage relink -w 'Personal Premium'").ok().await;
    let renamed =
        change.renamed_folder_to.expect("a folder with a subfolder was renamed, not removed");
    let held = below(&t, "tenantlake", renamed.trim_start_matches("power-bi-backup/"));
    assert!(held.iter().any(|p| p == "Archive/Old.abf"), "{held:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_change_the_caller_may_not_make_touches_nothing() {
    let t = Tenant::rules().await;
    let env = t.env("tenantlake");
    // backup-bot is a Member of 'Members Only': the service attaches storage for admins only.
    place(&t, "tenantlake", "Members Only/Team_20261201T010203Z.abf", b"a member's backup").await;
    let before = below(&t, "tenantlake", "Members Only");
    for line in
        ["storage relink -w 'Members Only'", "storage link -w 'Members Only' --account financelake"]
    {
        let err = t.cli(&env, line).fails(exit_codes::USAGE).await;
        assert!(err.message.contains("only workspace admins"), "{line}: {err:?}");
        assert!(err.message.contains("nothing was changed"), "{line}: {err:?}");
        assert_eq!(below(&t, "tenantlake", "Members Only"), before, "{line} moved the folder");
    }
    let folders: Vec<String> = t.stack.emulators["tenantlake"]
        .paths("power-bi-backup")
        .into_iter()
        .filter(|p| p.starts_with("Members Only (before relink"))
        .collect();
    assert!(folders.is_empty(), "{folders:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_over_a_good_backup_that_fails_its_check_leaves_the_good_one() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    let copy = "copy --from-workspace Finance --to-workspace 'Finance Copy' --file";
    t.cli(&env, copy).arg(&file).ok::<backup_core::output::TransferOutput>().await;
    let emulator = &t.stack.emulators["financelake"];
    let target = emulator.data_file("power-bi-backup", &format!("Finance Copy/{file}")).unwrap();
    let good = std::fs::read(&target).unwrap();

    // The source changes underneath (same size, same version) after it was verified.
    let source = emulator.data_file("power-bi-backup", &format!("Finance/{file}")).unwrap();
    crate::support::flip_middle_byte(&source);

    let err = t.cli(&env, copy).arg(&file).then("--overwrite").fails(exit_codes::INTEGRITY).await;
    assert!(err.message.contains("left as it was"), "{err:?}");
    let target = emulator.data_file("power-bi-backup", &format!("Finance Copy/{file}")).unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), good, "the good copy in the target was replaced");
    let list: backup_core::output::ListOutput = t.cli(&env, "list -w 'Finance Copy'").ok().await;
    assert_eq!(list.backups.len(), 1, "{list:?}");
    assert!(list.backups[0].verified, "the good copy is no longer verified: {list:?}");
    let left: Vec<String> = emulator
        .paths("power-bi-backup")
        .into_iter()
        .filter(|p| p.starts_with("Finance Copy/") && p.ends_with(".pbi-backup-staging"))
        .collect();
    assert!(left.is_empty(), "the failed copy was left: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_verification_is_remembered_until_a_check_passes() {
    use backup_core::manifest::VerifiedState;
    use backup_core::output::{ListOutput, PruneOutput, RestoreOutput, VerifyOutput};
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let good = backup_one(&t, &env, "Finance", "Budget").await;
    crate::commands::next_second().await;
    let damaged = backup_one(&t, &env, "Finance", "Budget").await;
    // The newest backup's bytes change underneath, same size, same version (nothing tells the store).
    let emulator = &t.stack.emulators["financelake"];
    let data = emulator.data_file("power-bi-backup", &format!("Finance/{damaged}")).unwrap();
    crate::support::flip_middle_byte(&data);

    let v: VerifyOutput =
        t.cli(&env, "verify -w Finance --file").arg(&damaged).json(exit_codes::INTEGRITY).await;
    assert!(!v.valid, "{v:?}");
    // list says so, and goes on saying so.
    for _ in 0..2 {
        let list: ListOutput = t.cli(&env, "list -w Finance").ok().await;
        let b = list.backups.iter().find(|b| b.name == damaged).unwrap();
        assert_eq!((b.verified, b.state), (false, VerifiedState::FailedVerification), "{b:?}");
    }
    let text = t.cli(&env, "list -w Finance").exits(exit_codes::SUCCESS).await;
    assert!(text.stdout.contains("FAILED verification"), "{}", text.stdout);

    // prune keeps the newest backup that verifies, not the failed one.
    let out: PruneOutput = t.cli(&env, "prune -w Finance --keep-last 1 --apply").ok().await;
    assert!(
        !out.deleted.iter().any(|d| d.ends_with(&good)),
        "the good backup was deleted: {out:?}"
    );
    // restore --latest passes the failed one by.
    let restored: RestoreOutput =
        t.cli(&env, "restore -w Finance --latest Budget --as 'Budget (restored)'").ok().await;
    assert_eq!(restored.file, good, "{restored:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn list_says_when_the_storage_fails_instead_of_showing_backups_unverified() {
    use test_fixtures::dfs::{Fault, Op};
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    backup_one(&t, &env, "Finance", "Budget").await;
    let refusal =
        Fault::Status { status: 403, code: "AuthorizationPermissionMismatch", retry_after: None };
    t.stack.emulators["financelake"].faults().inject(Op::Read, refusal, 100);
    let err = t.cli(&env, "list -w Finance").fails(exit_codes::SERVER_REFUSED).await;
    assert_eq!(err.kind, "storage", "{err:?}");
    t.stack.emulators["financelake"].faults().clear();
    let list: backup_core::output::ListOutput = t.cli(&env, "list -w Finance").ok().await;
    assert!(list.backups.iter().all(|b| b.verified), "{list:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn names_and_limits_nobody_meant_are_refused_before_anything_is_sent() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    let restores = t.stack.sim.count("restore");
    for name in ["Orders ", " Orders", "Two\nlines"] {
        let run =
            t.cli(&env, "restore -w Finance --file").arg(&file).then("--as").arg(name).run().await;
        run.expect(exit_codes::USAGE);
        assert!(run.stderr.contains("--as"), "{name:?}: {}", run.stderr);
    }
    assert_eq!(t.stack.sim.count("restore"), restores, "a restore was sent");
    let backups = t.stack.sim.count("backup");
    t.cli(&env, "backup -w Finance -d Budget --command-timeout 0").exits(exit_codes::USAGE).await;
    assert_eq!(t.stack.sim.count("backup"), backups, "a backup was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_with_a_line_break_cannot_forge_a_row() {
    use adls_store::{PutMode, StoreExt, StorePath};
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    // Someone edits the manifest: the dataset's name now carries a line that looks like another backup.
    let store = t.stack.store("financelake").unwrap();
    let path =
        StorePath::file("power-bi-backup", "Finance", &format!("{file}.manifest.json")).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&store.get_bytes(&path).await.unwrap()).unwrap();
    manifest["dataset"]["name"] =
        "Budget\nForged.abf   1.0 KiB  2026-01-01T00:00:00Z   Forged  yes".into();
    store
        .put(&path, serde_json::to_vec(&manifest).unwrap().into(), PutMode::Overwrite)
        .await
        .unwrap();

    let text = t.cli(&env, "list -w Finance").exits(exit_codes::SUCCESS).await.stdout;
    assert_eq!(text.lines().count(), 2, "a header and one backup:\n{text}");
    assert!(!text.lines().any(|l| l.starts_with("Forged")), "{text}");
    assert!(text.contains("Budget\\u{000a}Forged"), "{text}");
    // JSON keeps the name as it is.
    let list: backup_core::output::ListOutput = t.cli(&env, "list -w Finance").ok().await;
    assert!(list.backups[0].dataset.as_deref().unwrap().contains('\n'), "{list:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sign_in_is_said_not_taken_for_an_empty_folder_in_another_account() {
    let t = Tenant::rules().await;
    let env = t.env("tenantlake");
    backup_one(&t, &env, "Personal Premium", "Forecast").await;
    // Configured with another account; the workspace's own account is learned through Power BI, whose sign-in fails.
    let broken = t.env("financelake").set("AZURE_CLIENT_SECRET", "not-the-secret");
    let err = t.cli(&broken, "list -w 'Personal Premium'").fails(exit_codes::SERVER_REFUSED).await;
    assert_eq!(err.kind, "auth", "{err:?}");
    // Signed in, the same command looks in the workspace's own account (here: says it has no key for it).
    let err =
        t.cli(&t.env("financelake"), "list -w 'Personal Premium'").fails(exit_codes::USAGE).await;
    assert!(err.message.contains("tenantlake"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_whose_file_changes_while_it_is_sent_replaces_nothing() {
    use test_fixtures::dfs::{Fault, Op};
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    let kept = download_kept(&t, &env, &file).await;
    let local = kept.join(&file);
    assert!(kept.join(format!("{file}.manifest.json")).exists(), "the download keeps the manifest");
    let emulator = &t.stack.emulators["financelake"];
    let stored = emulator.data_file("power-bi-backup", &format!("Finance/{file}")).unwrap();
    let good = std::fs::read(&stored).unwrap();

    // The storage is slow to answer the upload's first call; meanwhile the kept file is changed in place, after it
    // was checked against its manifest and before it is read to be sent.
    emulator.faults().inject(
        Op::Filesystem,
        Fault::Delay(std::time::Duration::from_millis(3000)),
        1,
    );
    let changer = {
        let local = local.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(1200));
            crate::support::flip_middle_byte(&local);
        })
    };
    let err = t
        .cli(&env, "upload")
        .arg(local.to_str().unwrap())
        .then("-w Finance --overwrite")
        .fails(exit_codes::INTEGRITY)
        .await;
    changer.join().unwrap();
    assert!(err.message.contains("changed while it was sent"), "{err:?}");
    let stored = emulator.data_file("power-bi-backup", &format!("Finance/{file}")).unwrap();
    assert_eq!(std::fs::read(&stored).unwrap(), good, "the good backup was replaced");
    let list: backup_core::output::ListOutput = t.cli(&env, "list -w Finance").ok().await;
    assert!(list.backups.iter().all(|b| b.verified), "{list:?}");
    let staged: Vec<String> = emulator
        .paths("power-bi-backup")
        .into_iter()
        .filter(|p| p.ends_with(".pbi-backup-staging"))
        .collect();
    assert!(staged.is_empty(), "{staged:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_download_and_its_manifest_are_for_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    let kept = download_kept(&t, &env, &file).await;
    for name in [file.clone(), format!("{file}.manifest.json")] {
        let mode = std::fs::metadata(kept.join(&name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} is {mode:o}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workspace_that_does_not_exist_gets_no_folder_and_no_listing() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let local = t.work.path().join("Kept.abf");
    std::fs::write(&local, crate::support::model_abf("Kept", &["Orders"])).unwrap();
    let err = t
        .cli(&env, "upload")
        .arg(local.to_str().unwrap())
        .then("-w Finanse --create-folder")
        .fails(exit_codes::USAGE)
        .await;
    assert_eq!(err.kind, "not_found", "{err:?}");
    assert!(err.message.contains("'Finance'"), "{err:?}");
    let made: Vec<String> = t.stack.emulators["financelake"]
        .paths("power-bi-backup")
        .into_iter()
        .filter(|p| p.starts_with("Finanse"))
        .collect();
    assert!(made.is_empty(), "a folder was made for a workspace that does not exist: {made:?}");
    let err = t.cli(&env, "list -w Nope").fails(exit_codes::USAGE).await;
    assert_eq!(err.kind, "not_found", "{err:?}");
}

/// A 1 MiB-scale `.pbix` whose deflated `DataModel` is 64 MiB of zeros: a decompression bomb.
fn deflate_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("DataModel", options).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        zip.write_all(&zeros).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decompression_bomb_is_refused_at_once_wherever_it_is_read() {
    use std::time::{Duration, Instant};
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let bomb = deflate_bomb();
    let local = t.work.path().join("Bomb.abf");
    std::fs::write(&local, &bomb).unwrap();
    let started = Instant::now();
    let report: abf_format::Report = t
        .cli(&env, "inspect --full")
        .arg(local.to_str().unwrap())
        .json(exit_codes::INTEGRITY)
        .await;
    assert!(report.problems[0].message.contains("decompression bomb"), "{report:?}");
    // Someone else put it in the workspace's folder: read through ranged reads, refused the same way.
    place(&t, "financelake", "Finance/Bomb.abf", &bomb).await;
    let report: abf_format::Report =
        t.cli(&env, "inspect -w Finance --file Bomb.abf").json(exit_codes::INTEGRITY).await;
    assert!(report.problems[0].message.contains("decompression bomb"), "{report:?}");
    // Upload looks before it sends: nothing is stored.
    let before = below(&t, "financelake", "Finance");
    t.cli(&env, "upload -w Finance")
        .arg(local.to_str().unwrap())
        .exits(exit_codes::INTEGRITY)
        .await;
    assert_eq!(below(&t, "financelake", "Finance"), before, "the upload stored something");
    // Three binaries started in debug builds: generous, where decoding the bomb would take minutes.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

/// A storage endpoint that does not answer: after 10 s the command says, at info (`-v`), what it waits for, naming
/// the storage call and never its query string.
#[tokio::test(flavor = "multi_thread")]
async fn a_storage_that_does_not_answer_is_said_within_seconds() {
    use std::io::BufRead;
    use std::time::{Duration, Instant};
    use test_fixtures::dfs::{Fault, Op};
    let t = Tenant::rules().await;
    // The log as a platform ingests it: JSON lines with their time.
    let env = t.env("financelake").set("PBI_BACKUP_LOG_FORMAT", "json");
    backup_one(&t, &env, "Finance", "Budget").await;
    t.stack.emulators["financelake"].faults().inject(
        Op::List,
        Fault::Delay(Duration::from_secs(120)),
        1,
    );
    let args: Vec<String> =
        crate::support::words("list -w Finance -v").into_iter().map(str::to_owned).collect();
    let mut child = crate::support::command(&env.vars, t.work.path(), &args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let started = Instant::now();
    let said = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("still waiting for the storage"))
    });
    let line = tokio::time::timeout(Duration::from_secs(30), said).await;
    let waited = started.elapsed();
    child.kill().unwrap();
    let _ = child.wait();
    let line =
        line.expect("nothing was said within 30 s").unwrap().expect("stderr ended without a word");
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(25),
        "{waited:?}: {line}"
    );
    assert!(line.contains("GET") && line.contains("Finance"), "{line}");
    let event: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(event["level"], "INFO", "{event}");
    let when = event["timestamp"].as_str().expect("a timestamp");
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    assert!(time::OffsetDateTime::parse(when, rfc3339).is_ok(), "{when}");
    assert!(!line.contains("sig=") && !line.contains("sv="), "{line}");
    assert!(!line.contains('\u{1b}'), "colour codes in a redirected log: {line:?}");
}

/// Storage that refuses pbi-backup (a wrong key here; a refused Entra token alike) stops a bulk backup before
/// anything is sent to the service: no backup command, no file written that cannot be verified.
#[tokio::test(flavor = "multi_thread")]
async fn storage_that_refuses_the_sign_in_stops_a_bulk_backup_before_anything_is_sent() {
    let t = Tenant::rules().await;
    let wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
    let env = t.env("financelake").set("AZURE_STORAGE_KEY", wrong);
    let sent = t.stack.sim.count("backup");
    let out: backup_core::output::BackupOutput =
        t.cli(&env, "backup -w Finance --all").json(exit_codes::SERVER_REFUSED).await;
    assert!(out.failed > 1 && out.succeeded == 0, "{out:?}");
    for r in &out.results {
        let e = r.error().expect("each backup failed");
        assert_eq!(e.kind, "storage", "{e:?}");
        assert!(e.message.contains("permission denied"), "{e:?}");
        assert!(
            e.message.contains("SEED-02") && e.message.contains("the storage account key"),
            "{e:?}"
        );
    }
    assert_eq!(t.stack.sim.count("backup"), sent, "a backup was sent to the service");
    assert!(below(&t, "financelake", "Finance").is_empty(), "a file was written");
}
