//! What Azure Resource Manager tells of a storage account (Storage Accounts – Get Properties, read through the list
//! calls): its region, hierarchical namespace, network rules, shared key access and the tenant of its subscription.
//! A Reader role on the account's subscription (or the account) is enough. The account is found by name among the
//! subscriptions the caller sees.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::Value;
use url::Url;

use crate::error::{Error, Result, Service};
use crate::service::auth::{ARM_SCOPE, TokenSource};
use crate::service::http::{self, str_field};

const SUBSCRIPTIONS_API: &str = "2022-12-01";
const STORAGE_API: &str = "2023-05-01";

/// A storage account as Azure Resource Manager describes it; `None` where it did not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArmAccount {
    /// `location` (`westeurope`).
    pub location: Option<String>,
    /// The Entra tenant of the account's subscription.
    pub tenant_id: Option<String>,
    /// `properties.isHnsEnabled`.
    pub hns: Option<bool>,
    /// `properties.allowSharedKeyAccess` (null means allowed).
    pub allow_shared_key: Option<bool>,
    /// `properties.networkAcls.defaultAction` (`Allow`, `Deny`).
    pub default_action: Option<String>,
    /// How many `properties.networkAcls.virtualNetworkRules`.
    pub vnet_rules: usize,
    /// `properties.publicNetworkAccess` (`Enabled`, `Disabled`).
    pub public_network_access: Option<String>,
    /// How many `properties.privateEndpointConnections`.
    pub private_endpoints: usize,
}

impl ArmAccount {
    fn of(v: &Value, tenant_id: Option<String>) -> ArmAccount {
        let props = v.get("properties");
        let acls = props.and_then(|p| p.get("networkAcls"));
        let count = |v: Option<&Value>| v.and_then(Value::as_array).map_or(0, Vec::len);
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        ArmAccount {
            location: text(v.get("location")),
            tenant_id,
            hns: props.and_then(|p| p.get("isHnsEnabled")).and_then(Value::as_bool),
            allow_shared_key: props
                .and_then(|p| p.get("allowSharedKeyAccess"))
                .and_then(Value::as_bool),
            default_action: text(acls.and_then(|a| a.get("defaultAction"))),
            vnet_rules: count(acls.and_then(|a| a.get("virtualNetworkRules"))),
            public_network_access: text(props.and_then(|p| p.get("publicNetworkAccess"))),
            private_endpoints: count(props.and_then(|p| p.get("privateEndpointConnections"))),
        }
    }
}

/// A client for the Azure Resource Manager calls above.
#[derive(Clone)]
pub struct ArmClient {
    http: reqwest::Client,
    tokens: Arc<TokenSource>,
    base: Url,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

impl ArmClient {
    /// A client for ARM at `base` (`https://management.azure.com/`).
    pub fn new(base: Url, tokens: Arc<TokenSource>) -> Result<Self> {
        crate::urls::check_plain_http(&base)?;
        let http = http::client(Some(Duration::from_secs(60)), http::Redirects::Follow)?;
        Ok(ArmClient { http, tokens, base })
    }

    /// Every page of an ARM list, following `nextLink`.
    async fn list(&self, first: Url, what: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            let token = self.tokens.token(ARM_SCOPE).await?;
            let rb = self.http.get(url.clone()).bearer_auth(token.expose_secret());
            let body = http::fetch_patiently(rb, Service::Arm, what, &url).await?.ok(
                Service::Arm,
                what,
                &url,
            )?;
            let v: Value = serde_json::from_slice(&body).map_err(|e| Error::BadAnswer {
                service: Service::Arm,
                what: what.to_owned(),
                detail: e.to_string(),
            })?;
            out.extend(v.get("value").and_then(Value::as_array).cloned().unwrap_or_default());
            next = v
                .as_object()
                .and_then(|o| str_field(o, "nextLink"))
                .and_then(|n| Url::parse(&n).ok());
        }
        Ok(out)
    }

    /// The storage account named `name`, searched in every subscription the caller sees; `None` when none holds it
    /// (or the caller sees none).
    pub async fn storage_account(&self, name: &str) -> Result<Option<ArmAccount>> {
        let url = |path: &str, api: &str| -> Result<Url> {
            let mut u = self
                .base
                .join(path)
                .map_err(|e| Error::Usage(format!("invalid azure resource manager url: {e}")))?;
            u.query_pairs_mut().append_pair("api-version", api);
            Ok(u)
        };
        let subs =
            self.list(url("subscriptions", SUBSCRIPTIONS_API)?, "listing subscriptions").await?;
        for sub in subs.iter().filter_map(Value::as_object) {
            let Some(id) = str_field(sub, "subscriptionId") else { continue };
            let path = format!("subscriptions/{id}/providers/Microsoft.Storage/storageAccounts");
            let accounts = self.list(url(&path, STORAGE_API)?, "listing storage accounts").await?;
            if let Some(a) = accounts.iter().find(|a| {
                a.get("name").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(name))
            }) {
                return Ok(Some(ArmAccount::of(a, str_field(sub, "tenantId"))));
            }
        }
        Ok(None)
    }
}
