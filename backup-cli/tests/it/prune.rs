//! prune over a synthetic history of 400 backups, checked against a recomputation of the policy written here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use adls_store::{PutMode, StoreExt, StorePath};
use backup_core::manifest::{MANIFEST_FORMAT, Manifest, ManifestOptions, NamedId, StoredVersion};
use backup_core::output::{PruneOutput, exit_codes};
use time::{Date, Duration, OffsetDateTime, Time};

use crate::support::{Tenant, sha256};

const WS: &str = "Finance";
const FS: &str = "power-bi-backup";

#[derive(Debug, Clone)]
struct Item {
    dataset: &'static str,
    file: String,
    time: OffsetDateTime,
    /// A manifest with a SHA-256 and the right size.
    verified: bool,
    manifest: bool,
}

fn stamp(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    t.format(f).unwrap()
}

/// A small deterministic generator (no dependency, same history every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, lo: i64, hi: i64) -> i64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        lo + ((self.0 >> 33) as i64).rem_euclid(hi - lo + 1)
    }
}

/// 300 backups of Sales and 100 of Budget over about eight months. The 11 newest of Sales are unverified and all on
/// one day, so the newest verified one (the 12th) is kept by no rule of the policy but the safety rule.
fn history() -> Vec<Item> {
    let today = OffsetDateTime::now_utc().date();
    let anchor =
        today.previous_day().unwrap().with_time(Time::from_hms(20, 0, 0).unwrap()).assume_utc();
    let mut rng = Lcg(0x5eed);
    let mut items = Vec::new();
    for (dataset, count, gap) in [("Sales", 300, (1, 40)), ("Budget", 100, (10, 100))] {
        let mut t = anchor - Duration::minutes(rng.next(0, 59));
        for i in 0..count {
            let (verified, manifest) = if dataset == "Sales" && i < 11 {
                (false, i % 2 == 0)
            } else if dataset == "Sales" && i == 11 {
                (true, true)
            } else if i % 7 == 3 {
                (false, false)
            } else if i % 11 == 5 {
                (false, true)
            } else {
                (true, true)
            };
            items.push(Item {
                dataset,
                file: format!("{dataset}_{}.abf", stamp(t)),
                time: t,
                verified,
                manifest,
            });
            t -= if dataset == "Sales" && i < 11 {
                Duration::hours(1)
            } else {
                Duration::hours(rng.next(gap.0, gap.1)) + Duration::minutes(rng.next(0, 59))
            };
        }
    }
    items
}

/// Which files the policy keeps: keep-last 5, daily 14, weekly 8, monthly 12, plus the newest verified of each
/// dataset. Written from the policy's definition (the newest backup of each of the N most recent periods that
/// have backups), not from the product's code.
fn expected_kept(items: &[Item]) -> BTreeSet<String> {
    let mut by_dataset: BTreeMap<&str, Vec<&Item>> = BTreeMap::new();
    for i in items {
        by_dataset.entry(i.dataset).or_default().push(i);
    }
    let mut kept = BTreeSet::new();
    for (_, mut group) in by_dataset {
        group.sort_by_key(|i| std::cmp::Reverse(i.time));
        kept.extend(group.iter().take(5).map(|i| i.file.clone()));
        let day = |t: OffsetDateTime| t.date();
        let monday = |t: OffsetDateTime| {
            let d: Date = t.date();
            d - Duration::days(i64::from(d.weekday().number_days_from_monday()))
        };
        let month = |t: OffsetDateTime| Date::from_calendar_date(t.year(), t.month(), 1).unwrap();
        for (period, n) in
            [(&day as &dyn Fn(OffsetDateTime) -> Date, 14), (&monday, 8), (&month, 12)]
        {
            let mut newest_of: BTreeMap<Date, &Item> = BTreeMap::new();
            for i in &group {
                newest_of.entry(period(i.time)).or_insert(i);
            }
            kept.extend(newest_of.values().rev().take(n).map(|i| i.file.clone()));
        }
        if let Some(v) = group.iter().find(|i| i.verified) {
            kept.insert(v.file.clone());
        }
    }
    kept
}

fn manifest_for(item: &Item, data: &[u8], stored: &adls_store::ObjectMeta) -> Manifest {
    // Some manifests carry their time with an offset other than UTC (periods are UTC calendar periods whatever the
    // offset): every third one at -05:00, which moves late evenings into the next UTC day.
    let offset = if item.time.unix_timestamp().rem_euclid(3) == 0 {
        time::UtcOffset::from_hms(-5, 0, 0).unwrap()
    } else {
        time::UtcOffset::UTC
    };
    let created =
        item.time.to_offset(offset).format(&time::format_description::well_known::Rfc3339).unwrap();
    Manifest {
        format: MANIFEST_FORMAT.into(),
        tool_version: "test".into(),
        endpoint: format!("powerbi://api.powerbi.com/v1.0/myorg/{WS}"),
        workspace: NamedId { name: WS.into(), id: None },
        dataset: NamedId { name: item.dataset.into(), id: None },
        file: item.file.clone(),
        created,
        // An unverified backup's manifest records another size than the file's.
        size: if item.verified { data.len() as u64 } else { data.len() as u64 + 1 },
        sha256: sha256(data),
        options: ManifestOptions {
            apply_compression: true,
            allow_overwrite: false,
            encrypted: false,
            security: None,
            syntax: "Tmsl".into(),
        },
        tables: vec!["T".into()],
        placed_by: None,
        tables_unknown: false,
        // A verified backup's manifest records the stored version that was hashed.
        verified_version: item.verified.then(|| StoredVersion::of(stored)),
        roles: None,
        row_counts: None,
        model_size_bytes: None,
        model_modified: None,
        failed_check: None,
        drilled_at: None,
        drill_passed: None,
        definition: None,
    }
}

async fn abf_and_manifests(store: &adls_store::AdlsStore) -> (BTreeSet<String>, BTreeSet<String>) {
    let files = store.list_all(&StorePath::folder(FS, WS).unwrap()).await.unwrap();
    let names: Vec<String> =
        files.iter().filter_map(|f| f.path.file_name().map(str::to_owned)).collect();
    let abf = names.iter().filter(|n| n.ends_with(".abf")).cloned().collect();
    let manifests =
        names.iter().filter_map(|n| n.strip_suffix(".manifest.json")).map(str::to_owned).collect();
    (abf, manifests)
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_400_backups_by_policy() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let items = history();
    assert_eq!(items.len(), 400);
    let store = Arc::new(t.stack.store("financelake").unwrap());
    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    for item in items.clone() {
        let (store, limit) = (store.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            let data = format!("backup {} of {}", item.file, item.dataset).into_bytes();
            let path = StorePath::file(FS, WS, &item.file).unwrap();
            store.put(&path, data.clone().into(), PutMode::Create).await.unwrap();
            if item.manifest {
                let stored = adls_store::Store::head(store.as_ref(), &path).await.unwrap();
                let m = manifest_for(&item, &data, &stored);
                let mp = StorePath::file(FS, WS, &Manifest::name_for(&item.file)).unwrap();
                store
                    .put(&mp, serde_json::to_vec(&m).unwrap().into(), PutMode::Create)
                    .await
                    .unwrap();
            }
        });
    }
    // Two backups with no time anywhere: never pruned.
    for name in ["manual-keep.abf", "hand made.abf"] {
        store
            .put(
                &StorePath::file(FS, WS, name).unwrap(),
                b"no time".to_vec().into(),
                PutMode::Create,
            )
            .await
            .unwrap();
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let all: BTreeSet<String> = items.iter().map(|i| i.file.clone()).collect();
    assert_eq!(all.len(), 400, "file names collide");
    let expected = expected_kept(&items);
    let newest_verified_sales =
        items.iter().filter(|i| i.dataset == "Sales" && i.verified).max_by_key(|i| i.time).unwrap();
    assert_eq!(newest_verified_sales.file, items[11].file);

    let args = [
        "prune",
        "-w",
        WS,
        "--keep-last",
        "5",
        "--keep-daily",
        "14",
        "--keep-weekly",
        "8",
        "--keep-monthly",
        "12",
        "--json",
    ];
    // list: newest first, whatever offset the manifests write their times in.
    let run = t.cli(&env, "list -w").arg(WS).then("--json").exits(exit_codes::SUCCESS).await;
    let list: backup_core::output::ListOutput = run.json();
    assert_eq!(list.backups.len(), 402);
    let times: Vec<OffsetDateTime> = list
        .backups
        .iter()
        .filter_map(|b| b.time.as_deref())
        .map(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "list is not newest first");
    let verified = list.backups.iter().filter(|b| b.verified).count();
    assert_eq!(verified, items.iter().filter(|i| i.verified).count());

    // A dry run of one dataset by --keep-within: every Budget backup newer than 30 days, plus the newest verified.
    let cutoff = OffsetDateTime::now_utc() - Duration::days(30);
    let budget: Vec<&Item> = items.iter().filter(|i| i.dataset == "Budget").collect();
    // A backup within a minute of the cutoff may fall either side (the binary reads the clock a little later).
    let sure = |i: &&&Item| (i.time - cutoff).abs() > Duration::minutes(1);
    let newest_verified =
        budget.iter().filter(|i| i.verified).max_by_key(|i| i.time).unwrap().file.clone();
    let within: BTreeSet<String> = budget
        .iter()
        .filter(sure)
        .filter(|i| i.time > cutoff || i.file == newest_verified)
        .map(|i| i.file.clone())
        .collect();
    let run = t
        .cli(&env, "prune -w")
        .arg(WS)
        .then("--dataset Budget --keep-within 30d --json")
        .exits(exit_codes::SUCCESS)
        .await;
    let out: PruneOutput = run.json();
    assert_eq!(out.decisions.len(), 100);
    assert!(out.decisions.iter().all(|d| d.dataset == "Budget"));
    let kept: BTreeSet<String> = out
        .decisions
        .iter()
        .filter(|d| d.keep && budget.iter().filter(sure).any(|i| i.file == d.file))
        .map(|d| d.file.clone())
        .collect();
    assert_eq!(kept, within);
    assert!(within.len() > 3 && within.len() < 50, "a weak check: {} kept", within.len());

    // Dry run: decisions only.
    let run = t.run(&env, &args).await.expecting(exit_codes::SUCCESS);
    let dry: PruneOutput = run.json();
    assert!(dry.dry_run && dry.deleted.is_empty());
    assert_eq!(dry.decisions.len(), 400);
    let dry_kept: BTreeSet<String> =
        dry.decisions.iter().filter(|d| d.keep).map(|d| d.file.clone()).collect();
    assert_eq!(dry_kept, expected, "the dry run keeps another set than the policy");
    let (abf, _) = abf_and_manifests(&store).await;
    assert_eq!(abf.len(), 402, "a dry run deleted files");

    // Apply.
    let mut apply: Vec<&str> = args.to_vec();
    apply.insert(apply.len() - 1, "--apply");
    let run = t.run(&env, &apply).await.expecting(exit_codes::SUCCESS);
    let out: PruneOutput = run.json();
    assert!(!out.dry_run);
    assert_eq!(out.decisions.len(), 400);
    let mut skipped = out.skipped.clone();
    skipped.sort();
    assert_eq!(skipped, [format!("{FS}/{WS}/hand made.abf"), format!("{FS}/{WS}/manual-keep.abf")]);
    let kept: BTreeSet<String> =
        out.decisions.iter().filter(|d| d.keep).map(|d| d.file.clone()).collect();
    assert_eq!(
        kept,
        expected,
        "kept set differs from the policy;\n only product: {:?}\n only expected: {:?}",
        kept.difference(&expected).collect::<Vec<_>>(),
        expected.difference(&kept).collect::<Vec<_>>()
    );
    for d in &out.decisions {
        assert_eq!(d.keep, !d.reasons.is_empty(), "{d:?}");
        assert_eq!(d.workspace, WS);
        let item = items.iter().find(|i| i.file == d.file).unwrap();
        assert_eq!(d.dataset, item.dataset);
        assert_eq!(
            OffsetDateTime::parse(&d.time, &time::format_description::well_known::Rfc3339).unwrap(),
            item.time.replace_nanosecond(0).unwrap()
        );
    }
    // The newest verified backup of Sales is kept by the safety rule alone.
    let nv = out.decisions.iter().find(|d| d.file == newest_verified_sales.file).unwrap();
    assert!(nv.keep);
    assert_eq!(nv.reasons, [backup_core::retention::NEWEST_VERIFIED], "{nv:?}");
    // Deleted: exactly the others, gone with their manifests.
    let deleted: BTreeSet<String> = out.deleted.iter().cloned().collect();
    let expected_deleted: BTreeSet<String> =
        all.difference(&expected).map(|f| format!("{FS}/{WS}/{f}")).collect();
    assert_eq!(deleted, expected_deleted);
    assert!(
        expected_deleted.len() > 300,
        "the policy deletes too little for a real test: {}",
        expected_deleted.len()
    );
    let (abf, manifests) = abf_and_manifests(&store).await;
    let mut left = expected.clone();
    left.insert("manual-keep.abf".into());
    left.insert("hand made.abf".into());
    assert_eq!(abf, left, "storage does not hold exactly the kept backups");
    let kept_manifests: BTreeSet<String> = items
        .iter()
        .filter(|i| i.manifest && expected.contains(&i.file))
        .map(|i| i.file.clone())
        .collect();
    assert_eq!(
        manifests, kept_manifests,
        "manifests of deleted backups are left, or kept ones are gone"
    );

    // Again: nothing more to delete.
    let run = t.run(&env, &apply).await.expecting(exit_codes::SUCCESS);
    let again: PruneOutput = run.json();
    assert!(again.deleted.is_empty());
    assert_eq!(again.decisions.len(), expected.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_deletion_is_reported_and_the_others_go_on() {
    use test_fixtures::dfs::{Fault, Op};
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let mut files = Vec::new();
    for i in 0..4 {
        if i > 0 {
            crate::commands::next_second().await;
        }
        files.push(crate::commands::backup_one(&t, &env, WS, "DB").await);
    }
    // A manifest that cannot be read (not one that is missing): nothing is decided, nothing deleted.
    let faults = t.stack.emulators["financelake"].faults();
    faults.inject(
        Op::Read,
        Fault::Status { status: 403, code: "AuthorizationPermissionMismatch", retry_after: None },
        1,
    );
    t.cli(&env, "prune -w")
        .arg(WS)
        .then("--keep-last 1 --apply --json")
        .exits(exit_codes::SERVER_REFUSED)
        .await;
    let store = t.stack.store("financelake").unwrap();
    assert_eq!(
        abf_and_manifests(&store).await.0.len(),
        4,
        "prune deleted without reading every manifest"
    );
    // Deletions go newest first, each the file then its manifest: the fourth request (the manifest of the second
    // backup to delete) is refused.
    let faults = t.stack.emulators["financelake"].faults();
    faults.inject(
        Op::Delete,
        test_fixtures::dfs::Fault::Delay(std::time::Duration::from_millis(1)),
        3,
    );
    faults.inject(
        Op::Delete,
        Fault::Status { status: 403, code: "AuthorizationPermissionMismatch", retry_after: None },
        1,
    );
    let out: PruneOutput = t
        .cli(&env, "prune -w")
        .arg(WS)
        .then("--keep-last 1 --apply")
        .json(exit_codes::PARTIAL)
        .await;
    let path = |f: &str| format!("{FS}/{WS}/{f}");
    assert_eq!(out.deleted, [path(&files[2]), path(&files[0])]);
    assert_eq!(out.failed.len(), 1, "{out:?}");
    assert_eq!(out.failed[0].exit_code, exit_codes::SERVER_REFUSED);
    assert!(
        out.failed[0].message.contains(&format!("{}.manifest.json", files[1])),
        "{:?}",
        out.failed
    );
    assert_eq!(faults.pending(), 0);
    let (abf, _) = abf_and_manifests(&store).await;
    assert_eq!(abf.into_iter().collect::<Vec<_>>(), [files[3].clone()]);
    // Every deletion refused (the backup, and the manifest the refused deletion above left without its backup):
    // the refusal's own exit code.
    crate::commands::next_second().await;
    crate::commands::backup_one(&t, &env, WS, "DB").await;
    faults.inject(
        Op::Delete,
        Fault::Status { status: 403, code: "AuthorizationPermissionMismatch", retry_after: None },
        2,
    );
    let out: PruneOutput = t
        .cli(&env, "prune -w")
        .arg(WS)
        .then("--keep-last 1 --apply")
        .json(exit_codes::SERVER_REFUSED)
        .await;
    assert!(out.deleted.is_empty() && out.failed.len() == 2, "{out:?}");
    assert_eq!(out.orphan_manifests, [path(&format!("{}.manifest.json", files[1]))]);
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_a_killed_process_left_are_deleted_once_stale() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let backup = crate::commands::backup_one(&t, &env, WS, "DB").await;
    let store = t.stack.store("financelake").unwrap();
    let emulator = &t.stack.emulators["financelake"];
    let partials = || -> BTreeSet<String> {
        emulator
            .paths(FS)
            .into_iter()
            .filter(|p| p.starts_with(&format!("{WS}/{}", adls_store::PARTIAL_PREFIX)))
            .collect()
    };
    // Two uploads whose writer vanished: one two days ago, one just now (it may still be running).
    let mut left = Vec::new();
    for name in ["old.abf", "recent.abf"] {
        let path = StorePath::file(FS, WS, name).unwrap();
        let mut upload =
            adls_store::Store::put_multipart(&store, &path, PutMode::Create).await.unwrap();
        upload.put_part(vec![1u8; 1000].into()).await.unwrap();
        std::mem::forget(upload);
        let new: Vec<String> = partials().into_iter().filter(|p| !left.contains(p)).collect();
        assert_eq!(new.len(), 1, "{new:?}");
        left.push(new[0].clone());
    }
    let (old, recent) = (left[0].clone(), left[1].clone());
    assert!(emulator.set_last_modified(FS, &old, OffsetDateTime::now_utc() - Duration::days(2)));

    // A dry run reports the stale one only, and deletes nothing.
    let run = t
        .cli(&env, "prune -w")
        .arg(WS)
        .then("--keep-last 5 --json")
        .exits(exit_codes::SUCCESS)
        .await;
    let out: PruneOutput = run.json();
    let locations: Vec<&str> = out.stale_uploads.iter().map(|u| u.location.as_str()).collect();
    assert_eq!(locations, [format!("{FS}/{old}")], "{out:?}");
    // ADLS lists only flushed bytes: the 1,000 appended bytes are not shown as 0.
    assert_eq!(out.stale_uploads[0].size, None, "{out:?}");
    let text = t.cli(&env, "prune -w").arg(WS).then("--keep-last 5").run().await;
    assert!(text.stdout.contains("size unknown"), "{}", text.stdout);
    assert!(!text.stdout.contains("0 bytes"), "{}", text.stdout);
    assert_eq!(partials().len(), 2, "a dry run deleted an upload");

    // Off: not even looked at.
    let run = t
        .cli(&env, "prune -w")
        .arg(WS)
        .then("--keep-last 5 --stale-uploads-after off --json")
        .exits(exit_codes::SUCCESS)
        .await;
    assert!(run.json::<PruneOutput>().stale_uploads.is_empty());

    // Applied: the stale one goes; the recent one and every backup stay.
    let out: PruneOutput = t.cli(&env, "prune -w").arg(WS).then("--keep-last 5 --apply").ok().await;
    assert_eq!(out.deleted, [format!("{FS}/{old}")], "{out:?}");
    assert_eq!(partials(), BTreeSet::from([recent]));
    assert!(abf_and_manifests(&store).await.0.contains(&backup), "prune deleted the backup");

    // A limit that does not parse names the flag.
    let run = t
        .cli(&env, "prune -w")
        .arg(WS)
        .then("--keep-last 5 --stale-uploads-after soon")
        .run()
        .await;
    assert_ne!(run.code, exit_codes::SUCCESS);
    assert!(run.stderr.contains("--stale-uploads-after"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_whose_backup_is_gone_are_deleted_by_prune() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let gone = crate::commands::backup_one(&t, &env, WS, "DB").await;
    crate::commands::next_second().await;
    let kept = crate::commands::backup_one(&t, &env, WS, "DB").await;
    let store = t.stack.store("financelake").unwrap();
    // A deletion interrupted between the two files: the backup is gone, its manifest is not.
    adls_store::Store::delete(&store, &StorePath::file(FS, WS, &gone).unwrap()).await.unwrap();
    let orphan = format!("{FS}/{WS}/{gone}.manifest.json");

    let out: PruneOutput = t.cli(&env, "prune -w").arg(WS).then("--keep-last 5").ok().await;
    assert_eq!(out.orphan_manifests, std::slice::from_ref(&orphan), "{out:?}");
    assert!(abf_and_manifests(&store).await.1.contains(&gone), "a dry run deleted the manifest");

    let out: PruneOutput = t.cli(&env, "prune -w").arg(WS).then("--keep-last 5 --apply").ok().await;
    assert_eq!(out.deleted, [orphan], "{out:?}");
    let (abfs, manifests) = abf_and_manifests(&store).await;
    assert_eq!(abfs, BTreeSet::from([kept.clone()]));
    assert_eq!(manifests, BTreeSet::from([kept]));
}
