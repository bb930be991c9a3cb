//! [`AdlsConfig`]: the account, endpoint, credential and transfer settings, their defaults, and the environment.

use std::time::Duration;

use url::Url;

use super::server_copy;
use crate::{Credential, EntraSettings, EntraSignIn, SignInOptions};
use crate::{Error, Result, RetryConfig};

/// Configuration of an [`AdlsStore`](super::AdlsStore).
#[derive(Debug, Clone)]
pub struct AdlsConfig {
    /// The storage account name.
    pub account: String,
    /// A custom DFS endpoint, path-style (`http://127.0.0.1:10004/devstoreaccount1/`); `None` for
    /// `https://{account}.dfs.core.windows.net/`.
    pub endpoint: Option<Url>,
    /// How to authenticate.
    pub credential: Credential,
    /// The Entra authority an Entra sign-in goes to (`AZURE_AUTHORITY_HOST`); `None` for the public cloud's.
    pub authority: Option<Url>,
    /// The storage DNS suffix of the account's cloud (`core.windows.net` when `None`), used when no `endpoint` is
    /// given: `https://<account>.dfs.<suffix>/`.
    pub dns_suffix: Option<String>,
    /// An Entra sign-in to share (the run's one sign-in, for every account); when `None`, one is made of
    /// `credential` at `authority`.
    pub sign_in: Option<EntraSignIn>,
    /// How a sign-in of its own goes: its deadline (default 120 s) and extra certificate authorities.
    pub sign_in_options: SignInOptions,
    /// Bytes per append. Default 8 MiB. A file holds at most 50,000 appends: after every 20,000 appends of one upload
    /// the append size doubles (at most 4,000 MiB), so 8 MiB appends reach about 780 GiB.
    pub chunk_size: usize,
    /// Bytes per ranged read. Default 4 MiB (the crate collects each response body in memory, growing it as it
    /// arrives, so smaller reads keep the peak low).
    pub read_chunk_size: usize,
    /// Appends or ranged reads in flight per transfer. Default 8. Memory per transfer is about
    /// `chunk_size × (concurrency + 1)` for uploads and `2 × read_chunk_size × concurrency` for downloads.
    pub concurrency: usize,
    /// Bytes of the source each Put Block From URL of a copy made by the service asks it to read. Default 100 MiB
    /// (see `server_copy`); the service reads `concurrency` blocks at once.
    pub copy_block_size: u64,
    /// Entries per list page asked of the service (`None`: the service's default, 5,000).
    pub list_page_size: Option<u32>,
    /// Store the MD5 of the whole file as its Content-MD5 on flush (`x-ms-content-md5`), as azcopy `--put-md5` does,
    /// so that other tools can check it. Default false (opt-in): MD5 runs at about 600 MiB/s on one core, which
    /// bounds the upload speed; the SHA-256 property, the integrity anchor, is always computed and kept.
    pub store_content_md5: bool,
    /// Also send a transactional `Content-MD5` with each append (the service verifies it). Default false: TLS
    /// already protects the transfer and the whole-file SHA-256 is checked end to end.
    pub transactional_md5: bool,
    /// Retries.
    pub retry: RetryConfig,
    /// Connect timeout. Default 10 s.
    pub connect_timeout: Duration,
    /// The longest pause while reading a response. Default 60 s.
    pub read_timeout: Duration,
}

impl AdlsConfig {
    /// A configuration with the defaults documented on each field.
    pub fn new(account: impl Into<String>, credential: Credential) -> Self {
        Self {
            account: account.into(),
            endpoint: None,
            credential,
            authority: None,
            dns_suffix: None,
            sign_in: None,
            sign_in_options: SignInOptions::default(),
            chunk_size: 8 << 20,
            read_chunk_size: 4 << 20,
            concurrency: 8,
            copy_block_size: server_copy::COPY_BLOCK,
            list_page_size: None,
            store_content_md5: false,
            transactional_md5: false,
            retry: RetryConfig::default(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        }
    }

    /// Reads the configuration from the environment (secrets never come from the command line):
    ///
    /// - `PBI_BACKUP_ADLS_ACCOUNT` (required): the account name;
    /// - `PBI_BACKUP_ADLS_ENDPOINT` (optional): a custom DFS endpoint;
    /// - `PBI_BACKUP_ADLS_AUTH` (optional): `key`, `sas`, `client-secret`, `cli`, `managed-identity` or
    ///   `environment`; when unset: `key` if `AZURE_STORAGE_KEY` is set, else `sas` if `AZURE_STORAGE_SAS_TOKEN` is
    ///   set, else `environment`;
    /// - `AZURE_STORAGE_KEY`, `AZURE_STORAGE_SAS_TOKEN`, and for `client-secret` `AZURE_TENANT_ID`,
    ///   `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, `AZURE_AUTHORITY_HOST`.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`AdlsConfig::from_env`] over any lookup function (for tests).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = &var;
        let need = |name: &str| {
            var(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| Error::Config(format!("set the environment variable {name}")))
        };
        let account = need("PBI_BACKUP_ADLS_ACCOUNT")?;
        // A storage account name is 3 to 24 lowercase letters and digits; anything else (a pasted SAS after a `?`,
        // a URL) is refused without being shown, since it may carry a secret.
        let valid = (3..=24).contains(&account.len())
            && account.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid {
            return Err(Error::Config(
                "PBI_BACKUP_ADLS_ACCOUNT (or storage.account) is not a storage account name: 3 to 24 lowercase letters and digits, without a URL or SAS (its value is not shown: it may hold a secret)".into(),
            ));
        }
        let auth = var("PBI_BACKUP_ADLS_AUTH").unwrap_or_else(|| {
            if var("AZURE_STORAGE_KEY").is_some() {
                "key".into()
            } else if var("AZURE_STORAGE_SAS_TOKEN").is_some() {
                "sas".into()
            } else {
                "auto".into()
            }
        });
        let credential = match auth.as_str() {
            "key" => Credential::AccountKey(need("AZURE_STORAGE_KEY")?.into()),
            "sas" => Credential::Sas(need("AZURE_STORAGE_SAS_TOKEN")?.into()),
            entra => Credential::from_settings(Some(entra), &EntraSettings::from_lookup(&var))
                .map_err(|e| {
                    Error::Config(if e.starts_with("is not one of") {
                        format!("PBI_BACKUP_ADLS_AUTH (or storage.auth) {e}, key, sas (its value is not shown: it may hold a secret; the key or SAS go in AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN)")
                    } else {
                        format!("the storage sign-in: {e}")
                    })
                })?,
        };
        let mut config = AdlsConfig::new(account, credential);
        if let Some(h) = var("AZURE_AUTHORITY_HOST").filter(|h| !h.is_empty()) {
            config.authority = Some(Url::parse(&h).map_err(|e| {
                Error::Config(format!("AZURE_AUTHORITY_HOST '{h}' is not a URL: {e}"))
            })?);
        }
        if let Some(e) = var("PBI_BACKUP_ADLS_ENDPOINT").filter(|e| !e.is_empty()) {
            // The value may carry a pasted SAS or password: it is shown redacted, and one that does is refused (the
            // endpoint is printed in messages; credentials come from their own variables).
            let url = Url::parse(&e).map_err(|err| {
                Error::Config(format!(
                    "PBI_BACKUP_ADLS_ENDPOINT '{}' is not a URL: {err}",
                    crate::redact(&e)
                ))
            })?;
            if url.query().is_some()
                || url.fragment().is_some()
                || !url.username().is_empty()
                || url.password().is_some()
            {
                return Err(Error::Config(
                    "PBI_BACKUP_ADLS_ENDPOINT carries a query, a fragment or a user name; give the endpoint alone and the SAS in AZURE_STORAGE_SAS_TOKEN".into(),
                ));
            }
            config.endpoint = Some(url);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_carrying_a_sas_or_a_user_is_refused_without_showing_it() {
        for endpoint in [
            "https://acct.dfs.core.windows.net/#sv=2023&sig=SeCrEtSiG",
            "https://acct.dfs.core.windows.net/?sv=2023&sig=SeCrEtSiG",
            "https://user:SeCrEtSiG@acct.dfs.core.windows.net/",
        ] {
            let vars = [
                ("PBI_BACKUP_ADLS_ACCOUNT", "acct"),
                ("AZURE_STORAGE_KEY", "a2V5"),
                ("PBI_BACKUP_ADLS_ENDPOINT", endpoint),
            ];
            let lookup = |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned());
            let err = AdlsConfig::from_lookup(lookup).unwrap_err().to_string();
            assert!(
                err.contains("PBI_BACKUP_ADLS_ENDPOINT") && !err.contains("SeCrEtSiG"),
                "{err}"
            );
        }
    }

    #[test]
    fn config_from_lookup_never_shows_secrets() {
        let vars = |name: &str| match name {
            "PBI_BACKUP_ADLS_ACCOUNT" => Some("acct".to_owned()),
            "AZURE_STORAGE_KEY" => Some("c2VjcmV0LWtleQ==".to_owned()),
            _ => None,
        };
        let config = AdlsConfig::from_lookup(vars).unwrap();
        assert!(matches!(config.credential, Credential::AccountKey(_)));
        assert!(!format!("{config:?}").contains("c2VjcmV0"));
        let err = AdlsConfig::from_lookup(|_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "storage configuration: set the environment variable PBI_BACKUP_ADLS_ACCOUNT"
        );
        let bad = |name: &str| match name {
            "PBI_BACKUP_ADLS_ACCOUNT" => Some("acct".to_owned()),
            "PBI_BACKUP_ADLS_AUTH" => Some("password".to_owned()),
            _ => None,
        };
        assert!(
            AdlsConfig::from_lookup(bad)
                .unwrap_err()
                .to_string()
                .contains("PBI_BACKUP_ADLS_AUTH (or storage.auth) is not one of")
        );
    }

    #[test]
    fn a_secret_pasted_into_the_account_or_auth_is_refused_without_showing_it() {
        let cases = [
            [
                ("PBI_BACKUP_ADLS_ACCOUNT", "acct?sv=2023&sig=SeCrEtSiG"),
                ("PBI_BACKUP_ADLS_AUTH", "cli"),
            ],
            [
                ("PBI_BACKUP_ADLS_ACCOUNT", "acct"),
                ("PBI_BACKUP_ADLS_AUTH", "sv=2023&sig=SeCrEtSiG"),
            ],
        ];
        for vars in cases {
            let err = AdlsConfig::from_lookup(|n| {
                vars.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned())
            })
            .unwrap_err();
            assert!(!err.to_string().contains("SeCrEtSiG"), "{err}");
        }
    }
}
