//! Configuration: the `pbi-backup.toml` file and the environment, resolved into [`Settings`] before any I/O.
//!
//! Secrets never come from the file's plain text or the command line: the client secret comes from
//! `AZURE_CLIENT_SECRET` or a file named by `client-secret-file`; storage keys and SAS tokens from
//! `AZURE_STORAGE_KEY` / `AZURE_STORAGE_SAS_TOKEN`; backup passwords from `PBI_BACKUP_PASSWORD`, a file or a prompt.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use adls_store::{AdlsConfig, AdlsStore, LocalStore, Store};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::credential::{Credential, DEFAULT_AUTHORITY};
use crate::error::{Error, Result};
use crate::retention::RetentionPolicy;

/// The name of the configuration file looked for in the current folder and the user's config folder.
pub const CONFIG_FILE_NAME: &str = "pbi-backup.toml";

/// `pbi-backup.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ConfigFile {
    /// Power BI and sign-in.
    pub powerbi: PowerBiSection,
    /// Where backups are kept.
    pub storage: StorageSection,
    /// Which version of the service's rules applies.
    pub rules: RulesSection,
    /// Preflight facts and severities.
    pub preflight: PreflightSection,
    /// Backup defaults.
    pub backup: BackupSection,
    /// Retention for `prune`.
    pub retention: RetentionPolicy,
    /// `[[policy]]`: what `pbi-backup run` backs up, verifies and prunes.
    #[serde(rename = "policy")]
    pub policies: Vec<Policy>,
}

/// `[[policy]]`: a set of datasets backed up, verified and pruned together by `pbi-backup run`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Policy {
    /// Its name (`run --policy NAME`, reports and metrics).
    pub name: String,
    /// Workspaces: names or glob patterns (required).
    pub workspaces: Vec<String>,
    /// Workspaces left out: names or glob patterns.
    pub exclude_workspaces: Vec<String>,
    /// Datasets: names or glob patterns; every dataset when empty.
    pub datasets: Vec<String>,
    /// Datasets left out: names or glob patterns.
    pub exclude_datasets: Vec<String>,
    /// The period of the schedule: a dataset backed up and verified since the period began is not backed up
    /// again by a rerun (`hour`, `day`, the default, or `week`; UTC).
    pub period: Period,
    /// Skip a model unchanged since its last verified backup (as `backup --if-changed`).
    pub if_changed: bool,
    /// The environment variable that holds the backup password (the backups are then encrypted).
    pub password_env: Option<String>,
    /// Or a file whose first line is the password.
    pub password_file: Option<PathBuf>,
    /// Also check each new backup's container (`verify`), beyond the hash every backup is read back with.
    pub verify_container: bool,
    /// Retention applied after the backups (`prune --apply` on the policy's datasets); none: nothing is pruned.
    pub retention: Option<RetentionPolicy>,
    /// Drill each dataset whose last passed drill began before this period (`day`, `week`, `month`; UTC), after its
    /// backups; none: no drills.
    pub drill: Option<Period>,
    /// The workspace the drills restore their scratch models into (required with `drill`).
    pub drill_workspace: Option<String>,
}

/// The period of a policy's schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Period {
    /// Since the hour began.
    Hour,
    /// Since midnight UTC.
    #[default]
    Day,
    /// Since Monday midnight UTC.
    Week,
    /// Since the first of the month, midnight UTC.
    Month,
}

impl Period {
    /// When the period holding `now` began.
    pub fn start(self, now: time::OffsetDateTime) -> time::OffsetDateTime {
        let now = now.to_offset(time::UtcOffset::UTC);
        let midnight = now.replace_time(time::Time::MIDNIGHT);
        match self {
            Period::Hour => now.replace_time(
                time::Time::from_hms(now.hour(), 0, 0).expect("an hour of a real time"),
            ),
            Period::Day => midnight,
            Period::Week => {
                midnight - time::Duration::days(i64::from(now.weekday().number_days_from_monday()))
            }
            Period::Month => midnight - time::Duration::days(i64::from(now.day()) - 1),
        }
    }
}

impl Policy {
    /// The policy's password, from the variable or file it names.
    pub fn password(&self) -> Result<Option<xmla_proto::Password>> {
        read_password(self.password_env.as_deref(), self.password_file.as_deref()).map_err(|e| {
            match e {
                Error::Usage(m) => Error::Usage(format!("policy '{}': {m}", self.name)),
                other => other,
            }
        })
    }
}

/// A backup password from an environment variable or the first line of a file (never from argv).
pub fn read_password(
    env: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<xmla_proto::Password>> {
    match (env, file) {
        (Some(_), Some(_)) => Err(Error::Usage(
            "a password comes from an environment variable or a file, not both; name one".into(),
        )),
        (Some(var), None) => std::env::var(var).map(|v| Some(xmla_proto::Password::new(v))).map_err(|_| {
            Error::Usage(format!(
                "the password variable {var} is not set; export it, or name a password file instead"
            ))
        }),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
            let line = text.lines().next().unwrap_or_default().to_owned();
            if line.is_empty() {
                return Err(Error::Usage(format!("the password file {} is empty", f.display())));
            }
            Ok(Some(xmla_proto::Password::new(line)))
        }
        (None, None) => Ok(None),
    }
}

/// `[powerbi]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct PowerBiSection {
    /// The Azure cloud: `public` (default), `china`, `usgov`, `usgovhigh` or `dod`; it decides the authority, the
    /// Power BI API and resource, Azure Resource Manager and the storage DNS suffix. Env: `PBI_BACKUP_CLOUD`.
    pub cloud: Option<crate::cloud::Cloud>,
    /// Power BI API base (default: the cloud's, `https://api.powerbi.com/`). Env: `PBI_BACKUP_POWERBI_API`.
    pub api: Option<Url>,
    /// Entra authority (default `https://login.microsoftonline.com/`). Env: `PBI_BACKUP_AUTHORITY`.
    pub authority: Option<Url>,
    /// Replaces `https://<region>.asazure.windows.net/` for `asazure://` servers. Env: `PBI_BACKUP_AAS_BASE`.
    pub aas: Option<Url>,
    /// How to sign in: `auto` (the default: a client secret, a certificate or a federated token file when one is
    /// set, else the managed identity, the Azure CLI, azd), `client-secret`, `client-certificate`,
    /// `workload-identity`, `managed-identity`, `cli`, `azd` or `anonymous`. Env: `PBI_BACKUP_AUTH`.
    pub auth: Option<String>,
    /// Directory (tenant) id. Env: `AZURE_TENANT_ID`.
    pub tenant_id: Option<String>,
    /// Application (client) id of the service principal, or of the user-assigned managed identity. Env:
    /// `AZURE_CLIENT_ID`.
    pub client_id: Option<String>,
    /// A file holding the client secret (instead of `AZURE_CLIENT_SECRET`).
    pub client_secret_file: Option<PathBuf>,
    /// The certificate file (PEM with its key, or PKCS#12). Env: `AZURE_CLIENT_CERTIFICATE_PATH`.
    pub client_certificate: Option<PathBuf>,
    /// A file holding the PKCS#12 file's password (instead of `AZURE_CLIENT_CERTIFICATE_PASSWORD`).
    pub client_certificate_password_file: Option<PathBuf>,
    /// The federated token file of workload identity. Env: `AZURE_FEDERATED_TOKEN_FILE`.
    pub federated_token_file: Option<PathBuf>,
    /// A user-assigned managed identity by its Azure resource id (by client id: `client-id`).
    pub managed_identity_resource_id: Option<String>,
    /// Seconds a sign-in may take in all, retries included (default 120). Env: `PBI_BACKUP_SIGN_IN_TIMEOUT`.
    pub sign_in_timeout: Option<u64>,
    /// A PEM file of certificate authorities trusted for signing in, besides the platform's (`SSL_CERT_FILE`
    /// replaces the platform's for every connection). Env: `PBI_BACKUP_CA_FILE`.
    pub ca_file: Option<PathBuf>,
    /// The tenant's home region (no API tells it): needed by the multi-geo and storage-region rules.
    pub home_region: Option<String>,
}

/// `[storage]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct StorageSection {
    /// ADLS Gen2 account name. Env: `PBI_BACKUP_ADLS_ACCOUNT`.
    pub account: Option<String>,
    /// Custom DFS endpoint. Env: `PBI_BACKUP_ADLS_ENDPOINT`.
    pub endpoint: Option<Url>,
    /// `key`, `sas`, `client-secret`, `cli`, `managed-identity` or `environment`. Env: `PBI_BACKUP_ADLS_AUTH`.
    pub auth: Option<String>,
    /// The account's Azure region (for the region rules).
    pub location: Option<String>,
    /// Keep backups in this local folder instead of ADLS (laid out the same way). Env: `PBI_BACKUP_LOCAL_STORE`.
    pub local: Option<PathBuf>,
    /// MiB per transfer chunk (default 8).
    pub chunk_size_mib: Option<usize>,
    /// Chunks in flight per transfer (default 8).
    pub concurrency: Option<usize>,
    /// Store the MD5 of uploads as the file's Content-MD5, which azcopy and Storage Explorer check (default false;
    /// `--content-md5` on the command line). MD5 runs on one core at about 700 MiB/s, so on a faster link it bounds
    /// an upload; the SHA-256, the integrity anchor, is computed and kept either way.
    pub content_md5: Option<bool>,
    /// Other storage accounts workspaces are attached to, by name: how to reach each (`[storage.accounts.<name>]`).
    pub accounts: std::collections::BTreeMap<String, AccountSection>,
}

/// `[storage.accounts.<name>]`: a storage account other than `storage.account` that workspaces are attached to.
/// With an Entra sign-in for storage, none is needed: every account is reached with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct AccountSection {
    /// Custom DFS endpoint of this account.
    pub endpoint: Option<Url>,
    /// `key`, `sas` or an Entra kind; by default `key` with `key-env`, `sas` with `sas-env`, else the main account's.
    pub auth: Option<String>,
    /// The environment variable that holds this account's key.
    pub key_env: Option<String>,
    /// The environment variable that holds this account's SAS token.
    pub sas_env: Option<String>,
}

/// `[rules]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct RulesSection {
    /// `current` (the service as documented today, the default) or `seed` (the 2021 preview). Env:
    /// `PBI_BACKUP_RULES`; the command line's `--rules` wins over both.
    pub profile: Option<crate::rule::Profile>,
}

/// `[preflight]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct PreflightSection {
    /// Rule ids (e.g. `LATER-01`) whose warnings block like SEED rules.
    pub raise: Vec<String>,
    /// Workspaces whose storage link was made for dataflows only (no API tells it).
    pub dataflows_only: Vec<String>,
    /// Whether the caller owns the storage account (needed to copy between workspaces; no API the tool uses
    /// tells it).
    pub storage_owner: Option<bool>,
}

/// `[backup]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct BackupSection {
    /// Backups running at once in a bulk run, at most; unset (the default): as many as the capacities take, as the
    /// run learns it, up to 32.
    pub concurrency: Option<usize>,
    /// Compress backups (default true).
    pub apply_compression: bool,
    /// Backups running at once on one capacity at the start of a run (default 2); the run widens it while the
    /// capacity accepts and narrows it when the capacity refuses for load.
    pub per_capacity: usize,
    /// The most backups at once on one capacity, however much it accepts (default 8).
    pub max_per_capacity: usize,
    /// Minutes a backup the capacity refuses for load is sent again before it fails (default 30).
    pub load_wait_minutes: u64,
}

impl BackupSection {
    /// How long a backup or restore the capacity refuses for load is sent again before it fails.
    pub fn load_wait(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.load_wait_minutes.saturating_mul(60))
    }
}

impl Default for BackupSection {
    fn default() -> Self {
        BackupSection {
            concurrency: None,
            apply_compression: true,
            per_capacity: 2,
            max_per_capacity: 8,
            load_wait_minutes: 30,
        }
    }
}

impl ConfigFile {
    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => Error::Usage(format!(
                "config file {} is not UTF-8 text; save it as UTF-8",
                path.display()
            )),
            _ => Error::io(path, e),
        })?;
        // The parser's message quotes the offending line, which may hold a pasted secret: only where and what.
        toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            Error::Usage(format!(
                "config file {}{}: {} (the line is not shown: it may hold a secret)",
                path.display(),
                line.map(|l| format!(", line {l}")).unwrap_or_default(),
                e.message().trim_end()
            ))
        })
    }

    /// The config file to use: `explicit`, else `./pbi-backup.toml`, else `<config dir>/pbi-backup/pbi-backup.toml`,
    /// else none.
    pub fn find(
        explicit: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<(PathBuf, ConfigFile)>> {
        if let Some(p) = explicit {
            return Ok(Some((p.to_owned(), ConfigFile::load(p)?)));
        }
        let mut candidates = vec![PathBuf::from(CONFIG_FILE_NAME)];
        let config_home = env("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".config")))
            .or_else(|| env("APPDATA").map(PathBuf::from));
        if let Some(dir) = config_home {
            candidates.push(dir.join("pbi-backup").join(CONFIG_FILE_NAME));
        }
        for c in candidates {
            if c.is_file() {
                let file = ConfigFile::load(&c)?;
                return Ok(Some((c, file)));
            }
        }
        Ok(None)
    }
}

/// Base URLs of the services, each overridable (sovereign clouds, and tests that aim the real code at loopback).
#[derive(Debug, Clone)]
pub struct ServiceUrls {
    /// Power BI API base; `None` means `https://<host of the powerbi:// url>`.
    pub powerbi_api: Option<Url>,
    /// Entra authority host.
    pub authority: Url,
    /// Replaces `https://<region>.asazure.windows.net` for `asazure://` endpoints.
    pub aas: Option<Url>,
}

impl Default for ServiceUrls {
    fn default() -> Self {
        ServiceUrls {
            powerbi_api: None,
            authority: Url::parse(DEFAULT_AUTHORITY).expect("valid"),
            aas: None,
        }
    }
}

/// Everything resolved from the file and the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file read, if any.
    pub config_path: Option<PathBuf>,
    /// The parsed file (defaults when none).
    pub file: ConfigFile,
    /// Service URLs.
    pub urls: ServiceUrls,
    /// The Power BI API base.
    pub powerbi_api: Url,
    /// The rule profile in force: `PBI_BACKUP_RULES`, else `[rules] profile`, else `seed`.
    pub profile: crate::rule::Profile,
    /// A limit on each XMLA command (`--command-timeout`); none by default.
    pub command_timeout: Option<std::time::Duration>,
    /// The rule ids `preflight.raise` raises to blocking, parsed.
    pub raise: Vec<crate::rule::RuleId>,
    /// Azure Resource Manager's base: `PBI_BACKUP_ARM_URL`, else the cloud's (`https://management.azure.com/`).
    pub arm: Url,
    /// The Azure cloud in use.
    pub cloud: crate::cloud::Cloud,
    credential: std::result::Result<Credential, String>,
    /// How a sign-in goes: its deadline and extra certificate authorities.
    pub sign_in_options: adls_store::SignInOptions,
    /// The run's one Entra sign-in, shared by the services and the storage accounts that sign in the same way.
    sign_in: Arc<std::sync::OnceLock<std::result::Result<Option<adls_store::EntraSignIn>, String>>>,
    /// Whether the storage signs in with the services' credential (Entra, no `storage.auth` of its own).
    storage_shares_sign_in: bool,
    storage: StorageChoice,
}

#[derive(Debug, Clone)]
enum StorageChoice {
    Local(PathBuf),
    /// The configured account, and the other accounts of `[storage.accounts]` (each resolved, or why not).
    Adls(
        Box<AdlsConfig>,
        std::collections::BTreeMap<String, std::result::Result<AdlsConfig, String>>,
    ),
    None(String),
}

fn parse_url(name: &str, value: &str) -> Result<Url> {
    let mut v = value.to_owned();
    if !v.ends_with('/') {
        v.push('/');
    }
    Url::parse(&v).map_err(|e| Error::Usage(format!("{name} '{value}' is not a url: {e}")))
}

/// What the command line says over the file and the environment: applied while the settings are resolved, never
/// patched in afterwards.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--rules`: the rule profile, over `PBI_BACKUP_RULES` and `[rules] profile`.
    pub profile: Option<crate::rule::Profile>,
    /// `--content-md5`: store an MD5 with each upload, over `storage.content-md5`.
    pub content_md5: bool,
    /// `--command-timeout`: a limit on each XMLA command.
    pub command_timeout: Option<std::time::Duration>,
}

impl Settings {
    /// Resolves `file` with the environment `env` (a lookup, so tests pass their own).
    pub fn resolve(
        config_path: Option<PathBuf>,
        file: ConfigFile,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings> {
        Settings::resolve_with(config_path, file, env, &Overrides::default())
    }

    /// Resolves `file` with the environment `env` and what the command line says over both.
    pub fn resolve_with(
        config_path: Option<PathBuf>,
        mut file: ConfigFile,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Settings> {
        if overrides.content_md5 {
            file.storage.content_md5 = Some(true);
        }
        let env_url = |name: &str| {
            env(name).filter(|v| !v.is_empty()).map(|v| parse_url(name, &v)).transpose()
        };
        let cloud = match env("PBI_BACKUP_CLOUD").filter(|v| !v.is_empty()) {
            Some(v) => v.parse().map_err(|e| Error::Usage(format!("PBI_BACKUP_CLOUD: {e}")))?,
            None => file.powerbi.cloud.unwrap_or_default(),
        };
        let powerbi_api = match env_url("PBI_BACKUP_POWERBI_API")? {
            Some(u) => u,
            None => file
                .powerbi
                .api
                .clone()
                .unwrap_or_else(|| Url::parse(cloud.powerbi_api()).expect("valid")),
        };
        // One authority for the whole run, Power BI and storage alike; AZURE_AUTHORITY_HOST as the Azure SDKs read it.
        let authority = match env_url("PBI_BACKUP_AUTHORITY")? {
            Some(u) => u,
            None => match file.powerbi.authority.clone() {
                Some(u) => u,
                None => env_url("AZURE_AUTHORITY_HOST")?
                    .unwrap_or_else(|| Url::parse(cloud.authority()).expect("valid")),
            },
        };
        let sign_in_options = resolve_sign_in(&file.powerbi, env)?;
        let aas = env_url("PBI_BACKUP_AAS_BASE")?.or_else(|| file.powerbi.aas.clone());
        let arm = env_url("PBI_BACKUP_ARM_URL")?
            .unwrap_or_else(|| Url::parse(cloud.arm()).expect("valid"));
        // Outside the public cloud the API is the cloud's, whatever host a powerbi:// URL names.
        let api_overridden = env("PBI_BACKUP_POWERBI_API").is_some()
            || file.powerbi.api.is_some()
            || cloud != crate::cloud::Cloud::Public;
        let urls = ServiceUrls {
            powerbi_api: api_overridden.then(|| powerbi_api.clone()),
            authority,
            aas,
        };
        let credential = resolve_credential(&file.powerbi, env);
        let mut storage = resolve_storage(&file.storage, env)?;
        let mut storage_shares_sign_in = false;
        if let StorageChoice::Adls(main, others) = &mut storage {
            // Every account of the run signs in at the run's one authority, in its cloud.
            for c in std::iter::once(&mut **main)
                .chain(others.iter_mut().filter_map(|(_, c)| c.as_mut().ok()))
            {
                c.authority = Some(urls.authority.clone());
                c.dns_suffix = Some(cloud.storage_suffix().to_owned());
                c.sign_in_options = sign_in_options.clone();
            }
            // Without a storage.auth of its own, storage signs in as the services do.
            let own = env("PBI_BACKUP_ADLS_AUTH").is_some_and(|v| !v.is_empty())
                || file.storage.auth.is_some();
            if !own && let Ok(c) = &credential {
                storage_shares_sign_in = signs_in_as_services(main, c);
            }
        }
        let profile = match (overrides.profile, env("PBI_BACKUP_RULES").filter(|v| !v.is_empty())) {
            (Some(p), _) => p,
            (None, Some(v)) => {
                v.parse().map_err(|e| Error::Usage(format!("PBI_BACKUP_RULES: {e}")))?
            }
            (None, None) => file.rules.profile.unwrap_or_default(),
        };
        let raise = crate::rule::parse_raise(&file.preflight.raise).map_err(Error::Usage)?;
        // A policy's retention is checked now, not after its backups ran.
        for policy in &file.policies {
            if let Some(r) = &policy.retention {
                r.validate().map_err(|e| {
                    Error::Usage(format!("policy '{}': retention: {e}", policy.name))
                })?;
            }
        }
        Ok(Settings {
            config_path,
            file,
            urls,
            powerbi_api,
            profile,
            raise,
            command_timeout: overrides.command_timeout,
            arm,
            cloud,
            credential,
            sign_in_options,
            sign_in: Arc::default(),
            storage_shares_sign_in,
            storage,
        })
    }

    /// The run's one Entra sign-in (made on first use): `None` when the credential is not an Entra sign-in.
    pub fn sign_in(&self) -> Result<Option<adls_store::EntraSignIn>> {
        self.sign_in
            .get_or_init(|| {
                let credential = self.credential.clone()?;
                credential.sign_in(&self.urls.authority, &self.sign_in_options)
            })
            .clone()
            .map_err(Error::Auth)
    }

    /// `config` with the run's sign-in when it signs in to Entra as the services do (no `storage.auth` of its
    /// own): one sign-in, one token cache, for Power BI and every storage account.
    fn sharing_sign_in(&self, mut config: AdlsConfig) -> Result<AdlsConfig> {
        let entra = !matches!(config.credential, Credential::AccountKey(_) | Credential::Sas(_));
        if entra && self.storage_shares_sign_in {
            config.sign_in = self.sign_in()?;
        }
        Ok(config)
    }

    /// The credential to sign in with, or an error naming the variables that would supply one.
    pub fn credential(&self) -> Result<Credential> {
        self.credential.clone().map_err(Error::Usage)
    }

    /// Opens the backup store, or says why there is none.
    pub fn store(&self) -> Result<Arc<dyn Store>> {
        match &self.storage {
            StorageChoice::Local(root) => Ok(Arc::new(LocalStore::new(root.clone())?)),
            StorageChoice::Adls(config, _) => {
                Ok(Arc::new(AdlsStore::new(self.sharing_sign_in((**config).clone())?)?))
            }
            StorageChoice::None(why) => Err(Error::Usage(why.clone())),
        }
    }

    /// Whether a store is configured.
    pub fn has_store(&self) -> bool {
        !matches!(self.storage, StorageChoice::None(_))
    }

    /// The storage account name, when ADLS is configured.
    pub fn storage_account(&self) -> Option<&str> {
        match &self.storage {
            StorageChoice::Adls(c, _) => Some(&c.account),
            _ => None,
        }
    }

    /// How to reach the storage account `name` (one a workspace is attached to): the configured account's
    /// settings, its `[storage.accounts.<name>]`, or, with an Entra sign-in for storage, the configured settings
    /// aimed at it. Why it cannot be reached otherwise.
    pub fn account_config(&self, name: &str) -> std::result::Result<AdlsConfig, String> {
        let StorageChoice::Adls(main, others) = &self.storage else {
            return Err("pbi-backup is not configured with an ADLS Gen2 account".into());
        };
        let share = |c: AdlsConfig| self.sharing_sign_in(c).map_err(|e| e.to_string());
        if main.account.eq_ignore_ascii_case(name) {
            return share((**main).clone());
        }
        if let Some((_, other)) = others.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            return share(other.clone()?);
        }
        match main.credential {
            Credential::AccountKey(_) | Credential::Sas(_) => Err(format!(
                "pbi-backup has a key or SAS for '{}' only; add [storage.accounts.{name}] with key-env or sas-env naming the variable that holds its credential, or sign in to storage with Entra (storage.auth = \"client-secret\")",
                main.account
            )),
            _ => {
                let mut c = (**main).clone();
                c.account = name.to_owned();
                c.endpoint = None;
                share(c)
            }
        }
    }

    /// How the configured storage account is signed in to, described (no secrets).
    pub fn storage_credential_description(&self) -> String {
        match &self.storage {
            StorageChoice::Adls(c, _) => c.credential.describe(),
            StorageChoice::Local(_) => "the local file system".into(),
            StorageChoice::None(_) => "no storage credential".into(),
        }
    }

    /// A description of the store for reports (no secrets).
    pub fn store_description(&self) -> String {
        match &self.storage {
            StorageChoice::Local(root) => format!("local folder {}", root.display()),
            StorageChoice::Adls(c, _) => match &c.endpoint {
                Some(e) => {
                    format!("ADLS Gen2 account '{}' at {}", c.account, crate::urls::redact_url(e))
                }
                None => format!("ADLS Gen2 account '{}'", c.account),
            },
            StorageChoice::None(_) => "no storage configured".into(),
        }
    }
}

fn resolve_credential(
    p: &PowerBiSection,
    env: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<Credential, String> {
    let var = |n: &str| env(n).filter(|v| !v.is_empty());
    if let (Some(user), Some(password)) =
        (var("PBI_BACKUP_XMLA_USER"), var("PBI_BACKUP_XMLA_PASSWORD"))
    {
        return Ok(Credential::Basic { user, password: SecretString::from(password) });
    }
    let auth = var("PBI_BACKUP_AUTH").or_else(|| p.auth.clone());
    if auth.as_deref() == Some("anonymous") {
        return Ok(Credential::Anonymous);
    }
    let mut settings = adls_store::EntraSettings::from_lookup(&|n: &str| env(n));
    settings.tenant_id = settings.tenant_id.or_else(|| p.tenant_id.clone());
    settings.client_id = settings.client_id.or_else(|| p.client_id.clone());
    settings.certificate = settings.certificate.or_else(|| p.client_certificate.clone());
    settings.federated_token_file =
        settings.federated_token_file.or_else(|| p.federated_token_file.clone());
    settings.managed_identity_resource_id = p.managed_identity_resource_id.clone();
    // Files are read only when their credential is the one that signs in: an unreadable secret file must not
    // break `auth = "cli"`.
    let read = |what: &str, f: &PathBuf| {
        std::fs::read_to_string(f)
            .map(|s| SecretString::from(s.trim().to_owned()))
            .map_err(|e| format!("cannot read {what} {}: {e}", f.display()))
    };
    let wants = |kind: &str| auth.as_deref().is_none_or(|a| a == kind || a == "auto");
    if settings.secret.is_none()
        && let Some(f) = &p.client_secret_file
        && wants("client-secret")
    {
        settings.secret = Some(read("client-secret-file", f)?);
    }
    if settings.certificate_password.is_none()
        && let Some(f) = &p.client_certificate_password_file
        && wants("client-certificate")
    {
        settings.certificate_password = Some(read("client-certificate-password-file", f)?);
    }
    // Left to itself (no `auth`), `auto` goes on only when the environment holds something to sign in with;
    // with nothing at all it is no sign-in, as before, so offline commands stay offline and nothing probes the
    // network. `auth = "auto"` said outright also tries IMDS, the Azure CLI and azd.
    let ambient = settings.client_id.is_some()
        || env("IDENTITY_ENDPOINT").is_some_and(|v| !v.is_empty())
        || settings.managed_identity_resource_id.is_some();
    if auth.is_none()
        && settings.secret.is_none()
        && settings.certificate.is_none()
        && settings.federated_token_file.is_none()
        && !ambient
    {
        let mut missing = Vec::new();
        if settings.tenant_id.is_none() {
            missing.push("AZURE_TENANT_ID (or powerbi.tenant-id)");
        }
        missing.push("AZURE_CLIENT_ID (or powerbi.client-id)");
        missing.push("AZURE_CLIENT_SECRET (or powerbi.client-secret-file, or a certificate or federated token file)");
        return Err(format!(
            "no credential to sign in with: set {}; or choose how with PBI_BACKUP_AUTH (auto, managed-identity, cli, azd)",
            missing.join(", ")
        ));
    }
    Credential::from_settings(auth.as_deref(), &settings).map_err(|e| {
        if e.starts_with("is not one of") {
            format!(
                "PBI_BACKUP_AUTH (or powerbi.auth) {e}, anonymous (its value is not shown: it may hold a secret; the client secret goes in AZURE_CLIENT_SECRET)"
            )
        } else {
            format!("no credential to sign in with: {e}")
        }
    })
}

/// How a sign-in goes: `PBI_BACKUP_SIGN_IN_TIMEOUT` (or `sign-in-timeout`) and `PBI_BACKUP_CA_FILE` (or `ca-file`).
fn resolve_sign_in(
    p: &PowerBiSection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<adls_store::SignInOptions> {
    let seconds = match env("PBI_BACKUP_SIGN_IN_TIMEOUT").filter(|v| !v.is_empty()) {
        Some(v) => v.parse::<u64>().ok().filter(|s| *s > 0).ok_or_else(|| {
            Error::Usage(format!(
                "PBI_BACKUP_SIGN_IN_TIMEOUT '{v}' is not a number of seconds above 0"
            ))
        })?,
        None => p.sign_in_timeout.unwrap_or(120),
    };
    Ok(adls_store::SignInOptions {
        deadline: std::time::Duration::from_secs(seconds),
        ca_file: env("PBI_BACKUP_CA_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| p.ca_file.clone()),
    })
}

/// The storage account signs in with the services' credential when it signs in with Entra at all; whether it does.
fn signs_in_as_services(storage: &mut AdlsConfig, services: &Credential) -> bool {
    let entra = !matches!(storage.credential, Credential::AccountKey(_) | Credential::Sas(_));
    if entra {
        storage.credential = services.clone();
    }
    entra
}

fn resolve_storage(
    s: &StorageSection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<StorageChoice> {
    let var = |n: &str| env(n).filter(|v| !v.is_empty());
    if let Some(local) =
        var("PBI_BACKUP_LOCAL_STORE").map(PathBuf::from).or_else(|| s.local.clone())
    {
        return Ok(StorageChoice::Local(local));
    }
    let account = var("PBI_BACKUP_ADLS_ACCOUNT").or_else(|| s.account.clone());
    let Some(account) = account else {
        return Ok(StorageChoice::None(
            "no backup storage configured: set PBI_BACKUP_ADLS_ACCOUNT (and its credential: AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or an Entra sign-in), or storage.account / storage.local in pbi-backup.toml"
                .into(),
        ));
    };
    let endpoint = s.endpoint.as_ref().map(|u| u.to_string());
    let auth = s.auth.clone();
    let lookup = |name: &str| -> Option<String> {
        match name {
            "PBI_BACKUP_ADLS_ACCOUNT" => Some(account.clone()),
            "PBI_BACKUP_ADLS_ENDPOINT" => var(name).or_else(|| endpoint.clone()),
            "PBI_BACKUP_ADLS_AUTH" => var(name).or_else(|| auth.clone()),
            other => var(other),
        }
    };
    let mut config = AdlsConfig::from_lookup(lookup)?;
    if let Some(c) = s.chunk_size_mib {
        config.chunk_size = c.max(1) << 20;
    }
    if let Some(c) = s.concurrency {
        config.concurrency = c.max(1);
    }
    if let Some(md5) = s.content_md5 {
        config.store_content_md5 = md5;
    }
    if let Some(e) = &config.endpoint {
        crate::urls::check_plain_http(e)?;
    }
    let others = s
        .accounts
        .iter()
        .map(|(name, a)| (name.clone(), other_account(&config, name, a, env)))
        .collect();
    Ok(StorageChoice::Adls(Box::new(config), others))
}

/// One `[storage.accounts.<name>]`, resolved against the environment: the main account's settings with this
/// account's name, endpoint and credential.
fn other_account(
    main: &AdlsConfig,
    name: &str,
    a: &AccountSection,
    env: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<AdlsConfig, String> {
    let var = |n: &str| env(n).filter(|v| !v.is_empty());
    let secret = |n: &Option<String>| {
        n.as_deref().map(|n| {
            var(n).ok_or_else(|| format!("storage.accounts.{name}: the variable {n} is not set"))
        })
    };
    let mut c = main.clone();
    c.account = name.to_owned();
    c.endpoint = a.endpoint.clone();
    let auth = a.auth.clone().unwrap_or_else(|| {
        if a.key_env.is_some() {
            "key".into()
        } else if a.sas_env.is_some() {
            "sas".into()
        } else {
            String::new()
        }
    });
    c.credential = match auth.as_str() {
        "key" => Credential::AccountKey(
            secret(&a.key_env)
                .unwrap_or_else(|| Err(format!("storage.accounts.{name}: set key-env")))?
                .into(),
        ),
        "sas" => Credential::Sas(
            secret(&a.sas_env)
                .unwrap_or_else(|| Err(format!("storage.accounts.{name}: set sas-env")))?
                .into(),
        ),
        // The main account's sign-in (an Entra kind) reaches this one too.
        "" => main.credential.clone(),
        other => {
            return Err(format!(
                "storage.accounts.{name}.auth '{other}' is not key or sas; leave it out to use the main account's Entra sign-in"
            ));
        }
    };
    if let Some(e) = &c.endpoint {
        crate::urls::check_plain_http(e).map_err(|e| e.to_string())?;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_config_file_that_does_not_parse_is_named_without_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pbi-backup.toml");
        std::fs::write(&path, "[storage]\naccount = \"acct\"\nauth = sv=2023&sig=SeCrEtSiG\n")
            .unwrap();
        let err = ConfigFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("line 3") && !err.contains("SeCrEtSiG"), "{err}");
    }
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn one_cloud_setting_decides_every_endpoint_and_each_stays_overridable() {
        let vars = env(&[
            ("PBI_BACKUP_CLOUD", "usgovhigh"),
            ("PBI_BACKUP_ADLS_ACCOUNT", "govlake"),
            ("AZURE_STORAGE_KEY", "a2V5"),
        ]);
        let s = Settings::resolve(None, ConfigFile::default(), &vars).unwrap();
        assert_eq!(s.urls.authority.as_str(), "https://login.microsoftonline.us/");
        assert_eq!(s.powerbi_api.as_str(), "https://api.high.powerbigov.us/");
        assert_eq!(
            s.urls.powerbi_api.as_ref().map(Url::as_str),
            Some("https://api.high.powerbigov.us/")
        );
        assert_eq!(s.arm.as_str(), "https://management.usgovcloudapi.net/");
        let StorageChoice::Adls(main, _) = &s.storage else { panic!("adls") };
        assert_eq!(main.dns_suffix.as_deref(), Some("core.usgovcloudapi.net"));
        let vars = env(&[
            ("PBI_BACKUP_CLOUD", "china"),
            ("PBI_BACKUP_AUTHORITY", "https://login.example/"),
        ]);
        let s = Settings::resolve(None, ConfigFile::default(), &vars).unwrap();
        assert_eq!(s.urls.authority.as_str(), "https://login.example/");
        assert_eq!(s.powerbi_api.as_str(), "https://api.powerbi.cn/");
        let err =
            Settings::resolve(None, ConfigFile::default(), &env(&[("PBI_BACKUP_CLOUD", "mars")]))
                .unwrap_err()
                .to_string();
        assert!(err.contains("PBI_BACKUP_CLOUD") && err.contains("usgovhigh"), "{err}");
        let public = Settings::resolve(None, ConfigFile::default(), &env(&[])).unwrap();
        assert_eq!(public.urls.powerbi_api, None);
        assert_eq!(public.urls.authority.as_str(), "https://login.microsoftonline.com/");
    }

    #[test]
    fn missing_credential_names_the_variables() {
        let s = Settings::resolve(None, ConfigFile::default(), &env(&[("AZURE_TENANT_ID", "t")]))
            .unwrap();
        let err = s.credential().unwrap_err().to_string();
        assert!(err.contains("AZURE_CLIENT_ID") && err.contains("AZURE_CLIENT_SECRET"), "{err}");
        assert!(!err.contains("AZURE_TENANT_ID"), "{err}");
    }

    #[test]
    fn environment_wins_over_the_file_and_secrets_are_not_printed() {
        let mut file = ConfigFile::default();
        file.powerbi.tenant_id = Some("from-file".into());
        file.powerbi.client_id = Some("app".into());
        let s = Settings::resolve(
            None,
            file,
            &env(&[
                ("AZURE_TENANT_ID", "from-env"),
                ("AZURE_CLIENT_SECRET", "s3cr3t"),
                ("PBI_BACKUP_POWERBI_API", "http://127.0.0.1:9"),
            ]),
        )
        .unwrap();
        let c = s.credential().unwrap();
        assert!(
            matches!(&c, Credential::ClientSecret { tenant_id, .. } if tenant_id == "from-env")
        );
        assert!(!format!("{c:?} {s:?}").contains("s3cr3t"));
        assert_eq!(s.powerbi_api.as_str(), "http://127.0.0.1:9/");
    }

    #[test]
    fn storage_choices() {
        let s = Settings::resolve(None, ConfigFile::default(), &env(&[])).unwrap();
        assert!(!s.has_store());
        assert!(s.store().unwrap_err().to_string().contains("PBI_BACKUP_ADLS_ACCOUNT"));
        let s = Settings::resolve(
            None,
            ConfigFile::default(),
            &env(&[("PBI_BACKUP_ADLS_ACCOUNT", "acct"), ("AZURE_STORAGE_KEY", "a2V5")]),
        )
        .unwrap();
        assert_eq!(s.storage_account(), Some("acct"));
        let err = Settings::resolve(
            None,
            ConfigFile::default(),
            &env(&[
                ("PBI_BACKUP_ADLS_ACCOUNT", "acct"),
                ("AZURE_STORAGE_KEY", "a2V5"),
                ("PBI_BACKUP_ADLS_ENDPOINT", "http://example.com/acct/"),
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("refusing plain http"), "{err}");
    }

    #[test]
    fn an_unreadable_secret_file_matters_only_to_client_secret_sign_in() {
        let mut file = ConfigFile::default();
        file.powerbi.client_secret_file = Some("/nonexistent/pbi-backup-secret".into());
        file.powerbi.auth = Some("cli".into());
        let s = Settings::resolve(None, file.clone(), &env(&[])).unwrap();
        assert!(matches!(s.credential().unwrap(), Credential::AzureCli));
        file.powerbi.auth = Some("client-secret".into());
        let s = Settings::resolve(None, file, &env(&[])).unwrap();
        let err = s.credential().unwrap_err().to_string();
        assert!(
            err.contains("cannot read client-secret-file /nonexistent/pbi-backup-secret"),
            "{err}"
        );
    }

    #[test]
    fn other_accounts_are_reached_with_their_own_credential_or_the_entra_sign_in() {
        let file: ConfigFile = toml::from_str(
            "[storage]\naccount = \"main\"\n[storage.accounts.second]\nkey-env = \"SECOND_KEY\"\n[storage.accounts.third]\nsas-env = \"THIRD_SAS\"\n",
        )
        .unwrap();
        let vars = env(&[("AZURE_STORAGE_KEY", "bWFpbg=="), ("SECOND_KEY", "c2Vjb25k")]);
        let s = Settings::resolve(None, file.clone(), &vars).unwrap();
        assert!(s.account_config("MAIN").is_ok());
        let second = s.account_config("second").unwrap();
        assert_eq!(second.account, "second");
        assert!(
            matches!(second.credential, Credential::AccountKey(ref k) if secrecy::ExposeSecret::expose_secret(k) == "c2Vjb25k")
        );
        let third = s.account_config("third").unwrap_err();
        assert!(third.contains("THIRD_SAS") && !third.contains("c2Vjb25k"), "{third}");
        let fourth = s.account_config("fourth").unwrap_err();
        assert!(fourth.contains("[storage.accounts.fourth]"), "{fourth}");
        // An Entra sign-in for storage reaches any account.
        let entra = env(&[
            ("PBI_BACKUP_ADLS_AUTH", "client-secret"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
        ]);
        let s = Settings::resolve(None, file, &entra).unwrap();
        let fourth = s.account_config("fourth").unwrap();
        assert_eq!((fourth.account.as_str(), fourth.endpoint.is_none()), ("fourth", true));
        assert!(matches!(fourth.credential, Credential::ClientSecret { .. }));
    }

    #[test]
    fn transfer_settings_reach_the_adls_config() {
        let adls = |file: ConfigFile| {
            let vars = env(&[("PBI_BACKUP_ADLS_ACCOUNT", "acct"), ("AZURE_STORAGE_KEY", "a2V5")]);
            match Settings::resolve(None, file, &vars).unwrap().storage {
                StorageChoice::Adls(config, _) => config,
                other => panic!("expected ADLS, got {other:?}"),
            }
        };
        let default = adls(ConfigFile::default());
        assert!(!default.store_content_md5, "Content-MD5 is opt-in");
        let mut file = ConfigFile::default();
        file.storage.content_md5 = Some(true);
        file.storage.chunk_size_mib = Some(16);
        file.storage.concurrency = Some(3);
        let set = adls(file);
        assert!(set.store_content_md5);
        assert_eq!((set.chunk_size, set.concurrency), (16 << 20, 3));
    }
}

#[cfg(test)]
mod periods {
    use super::*;

    #[test]
    fn periods_begin_on_the_hour_at_midnight_and_on_monday_in_utc() {
        let t = time::macros::datetime!(2026-12-03 18:42:07 +01:00); // a Thursday, 17:42 UTC
        assert_eq!(Period::Hour.start(t), time::macros::datetime!(2026-12-03 17:00:00 UTC));
        assert_eq!(Period::Day.start(t), time::macros::datetime!(2026-12-03 00:00:00 UTC));
        assert_eq!(Period::Week.start(t), time::macros::datetime!(2026-11-30 00:00:00 UTC));
        assert_eq!(Period::Month.start(t), time::macros::datetime!(2026-12-01 00:00:00 UTC));
        // Just after midnight on the first, in a zone ahead of UTC: still the month before, in UTC.
        let early = time::macros::datetime!(2027-01-01 00:30:00 +01:00);
        assert_eq!(Period::Month.start(early), time::macros::datetime!(2026-12-01 00:00:00 UTC));
    }

    #[test]
    fn a_policy_whose_retention_keeps_nothing_is_refused_when_the_file_is_read() {
        let file: ConfigFile = toml::from_str(
            "[[policy]]\nname = \"nightly\"\nworkspaces = [\"Finance\"]\nretention = { keep-last = 0 }\n",
        )
        .unwrap();
        let err = Settings::resolve(None, file, &|_: &str| None).unwrap_err().to_string();
        assert!(err.contains("policy 'nightly'") && err.contains("retention"), "{err}");
    }
}

#[cfg(test)]
mod example {
    use super::*;

    /// The example shipped at the repository root documents every key; it must parse, and set every section.
    #[test]
    fn the_shipped_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pbi-backup.example.toml");
        let file = ConfigFile::load(&path).unwrap();
        assert_eq!(file.powerbi.home_region.as_deref(), Some("West Europe"));
        assert_eq!(file.storage.account.as_deref(), Some("contosobackups"));
        assert_eq!(file.storage.content_md5, Some(true));
        assert_eq!(file.preflight.raise, vec!["LATER-30".to_owned()]);
        assert_eq!((file.backup.concurrency, file.backup.max_per_capacity), (None, 8));
        assert_eq!(file.retention.keep_daily, Some(14));
        assert!(file.retention.keep_within.is_some());
        assert_eq!((file.backup.per_capacity, file.backup.load_wait_minutes), (2, 30));
        let [nightly] = file.policies.as_slice() else { panic!("one policy: {:?}", file.policies) };
        assert_eq!(nightly.name, "nightly");
        assert_eq!(nightly.period, Period::Day);
        assert!(nightly.if_changed && nightly.verify_container);
        assert_eq!(nightly.retention.as_ref().and_then(|r| r.keep_weekly), Some(8));
        let unknown = "[powerbi]\nhome-regon = \"x\"\n";
        let err = toml::from_str::<ConfigFile>(unknown).unwrap_err().to_string();
        assert!(err.contains("home-regon"), "{err}");
    }
}
