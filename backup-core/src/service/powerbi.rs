//! The Power BI REST calls a backup tool needs: workspaces, capacities, roles, datasets and storage links.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use crate::error::{Error, Result, Service};
use crate::service::auth::{POWERBI_SCOPE, TokenSource};
use crate::service::http;

/// Items asked for per page of a paged list (`$top`).
const PAGE: usize = 5000;
/// The all-zero GUID that detaches a workspace's storage.
pub const ZERO_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// A workspace as `GET /groups` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Object id.
    pub id: String,
    /// Name.
    pub name: String,
    /// On a dedicated (Premium, Embedded, Fabric) capacity.
    #[serde(default)]
    pub is_on_dedicated_capacity: bool,
    /// Its capacity.
    #[serde(default)]
    pub capacity_id: Option<String>,
    /// The dataflow storage account it is attached to.
    #[serde(default)]
    pub dataflow_storage_id: Option<String>,
    /// `Small` or `Large`; only for a workspace on dedicated capacity.
    #[serde(default)]
    pub default_dataset_storage_format: Option<String>,
    /// `Workspace`, `PersonalGroup`, ...: not in the Group object the REST reference documents, so seldom there.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A capacity as `GET /capacities` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capacity {
    /// Object id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// SKU (`P1`, `A4`, `F64`, `PP3`, ...).
    #[serde(default)]
    pub sku: String,
    /// `Active`, `Suspended`, ...
    #[serde(default)]
    pub state: String,
    /// Azure region.
    #[serde(default)]
    pub region: String,
}

/// A principal's role in a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupUser {
    /// Application id, object id or UPN.
    #[serde(default)]
    pub identifier: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// `User`, `App`, `Group`.
    #[serde(default)]
    pub principal_type: Option<String>,
    /// `Admin`, `Member`, `Contributor`, `Viewer`.
    #[serde(default)]
    pub group_user_access_right: WorkspaceRole,
}

/// A role in a workspace, as `groupUserAccessRight` names it. A name the API adds later is kept as it came.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WorkspaceRole {
    /// Manages the workspace and its access.
    Admin,
    /// Publishes and changes content, adds members.
    Member,
    /// Publishes and changes content.
    Contributor,
    /// Reads content.
    Viewer,
    /// Another name (empty when the answer had none).
    Other(String),
}

impl Default for WorkspaceRole {
    fn default() -> Self {
        WorkspaceRole::Other(String::new())
    }
}

impl WorkspaceRole {
    /// The name as the REST API writes it.
    pub fn as_str(&self) -> &str {
        match self {
            WorkspaceRole::Admin => "Admin",
            WorkspaceRole::Member => "Member",
            WorkspaceRole::Contributor => "Contributor",
            WorkspaceRole::Viewer => "Viewer",
            WorkspaceRole::Other(s) => s,
        }
    }
}

impl From<&str> for WorkspaceRole {
    fn from(s: &str) -> Self {
        match s {
            "Admin" => WorkspaceRole::Admin,
            "Member" => WorkspaceRole::Member,
            "Contributor" => WorkspaceRole::Contributor,
            "Viewer" => WorkspaceRole::Viewer,
            other => WorkspaceRole::Other(other.to_owned()),
        }
    }
}

impl std::fmt::Display for WorkspaceRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for WorkspaceRole {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WorkspaceRole {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(WorkspaceRole::from(String::deserialize(d)?.as_str()))
    }
}

/// A dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    /// Object id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `PremiumFiles` (large) or `Abf` (small).
    #[serde(default)]
    pub target_storage_mode: Option<String>,
}

/// One refresh of a dataset, as its refresh history lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refresh {
    /// `Unknown` (running, or its state is not known), `Completed`, `Failed` or `Disabled`.
    #[serde(default)]
    pub status: String,
    /// When it started (ISO 8601, UTC).
    #[serde(default)]
    pub start_time: Option<String>,
    /// When it ended; absent while it runs.
    #[serde(default)]
    pub end_time: Option<String>,
}

/// A registered dataflow storage account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageAccount {
    /// Power BI id of the registration.
    pub id: String,
    /// Account name.
    pub name: String,
    /// Whether the registration is enabled (`None` when the service did not say); a disabled account cannot be
    /// assigned.
    #[serde(default)]
    pub is_enabled: Option<bool>,
}

#[derive(Deserialize)]
struct List<T> {
    value: Vec<T>,
}

/// Calls `https://api.powerbi.com/v1.0/myorg/...` (or the configured base).
#[derive(Clone)]
pub struct PowerBiApi {
    http: reqwest::Client,
    tokens: Arc<TokenSource>,
    base: Url,
}

impl std::fmt::Debug for PowerBiApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerBiApi").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

impl PowerBiApi {
    /// A client for the API under `base` (e.g. `https://api.powerbi.com/`).
    pub fn new(base: Url, tokens: Arc<TokenSource>) -> Result<Self> {
        crate::urls::check_plain_http(&base)?;
        let http = http::client(Some(Duration::from_secs(120)), http::Redirects::Follow)?;
        Ok(PowerBiApi { http, tokens, base })
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(&format!("v1.0/myorg/{path}"))
            .map_err(|e| Error::Usage(format!("the power bi api path '{path}' is not a url: {e}")))
    }

    /// Sends one call with a bearer token (signing in again once on a 401) and returns the body of a 2xx answer.
    async fn send(
        &self,
        rb: reqwest::RequestBuilder,
        url: &Url,
        what: &str,
    ) -> Result<bytes::Bytes> {
        http::signed_in(&self.tokens, what, async || {
            let rb = rb.try_clone().ok_or_else(|| {
                Error::Internal(format!("{what}: the request body cannot be sent twice"))
            })?;
            let token = self.tokens.token(POWERBI_SCOPE).await?;
            http::fetch_patiently(
                rb.bearer_auth(token.expose_secret()),
                Service::PowerBiRest,
                what,
                url,
            )
            .await?
            .ok(Service::PowerBiRest, what, url)
        })
        .await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T> {
        let url = self.url(path)?;
        let body = self.send(self.http.get(url.clone()), &url, what).await?;
        serde_json::from_slice(&body).map_err(|e| Error::BadAnswer {
            service: Service::PowerBiRest,
            what: what.to_owned(),
            detail: e.to_string(),
        })
    }

    /// The tenant's home region (an Azure region name), read from the home cluster's host name: from
    /// `clusterdetails`, else from `GetOrInsertClusterUrisByTenantLocation` (see [`crate::service::home_region`]). `Ok(None)`
    /// when a cluster was named but its name does not read as a region; an error when neither call answered.
    pub async fn home_region(&self) -> Result<Option<String>> {
        let base = |path: &str| {
            self.base.join(path).map_err(|e| Error::Usage(format!("invalid power bi api url: {e}")))
        };
        let what = "reading the tenant's home cluster";
        let url = base("powerbi/globalservice/v201606/clusterdetails")?;
        let first = self.send(self.http.get(url.clone()), &url, what).await;
        let details = match first {
            Ok(b) => crate::service::home_region::cluster_url_of_details(
                &serde_json::from_slice::<Value>(&b).unwrap_or(Value::Null),
            ),
            Err(e) => {
                tracing::debug!(error = %e, "clusterdetails did not answer; trying the cluster lookup");
                None
            }
        };
        let cluster = match details {
            Some(url) => Some(url),
            None => {
                let url = base("spglobalservice/GetOrInsertClusterUrisByTenantLocation")?;
                let rb = self.http.put(url.clone()).header("Content-Length", "0");
                let body = self.send(rb, &url, what).await?;
                let v = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
                crate::service::home_region::cluster_url_of_lookup(&v)
            }
        };
        let region = cluster.as_deref().and_then(crate::service::home_region::region_of_cluster);
        if region.is_none() {
            tracing::debug!(cluster = ?cluster, "the home cluster's name does not read as a region");
        }
        Ok(region)
    }

    /// The workspaces the caller can see, every page of them.
    pub async fn groups(&self) -> Result<Vec<Group>> {
        self.get_all("groups", "listing workspaces").await
    }

    /// Every item of a list the REST API pages with `$top` and `$skip` (`GET groups`, `GET groups/{id}/users`): pages
    /// of [`PAGE`] until one comes back short. The reference documents no default page size, so none is relied on.
    async fn get_all<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<Vec<T>> {
        let mut all = Vec::new();
        loop {
            let page = self
                .get::<List<T>>(&format!("{path}?$top={PAGE}&$skip={}", all.len()), what)
                .await?
                .value;
            let last = page.len() < PAGE;
            all.extend(page);
            if last {
                return Ok(all);
            }
        }
    }

    /// Capacities the caller can see.
    pub async fn capacities(&self) -> Result<Vec<Capacity>> {
        Ok(self.get::<List<Capacity>>("capacities", "listing capacities").await?.value)
    }

    /// Roles in a workspace.
    pub async fn group_users(&self, group_id: &str) -> Result<Vec<GroupUser>> {
        self.get_all::<GroupUser>(&format!("groups/{group_id}/users"), "listing workspace roles")
            .await
    }

    /// Datasets of a workspace.
    pub async fn datasets(&self, group_id: &str) -> Result<Vec<Dataset>> {
        Ok(self
            .get::<List<Dataset>>(&format!("groups/{group_id}/datasets"), "listing datasets")
            .await?
            .value)
    }

    /// The newest entries of a dataset's refresh history ("Datasets - Get Refresh History In Group",
    /// `GET groups/{groupId}/datasets/{datasetId}/refreshes?$top=N`).
    pub async fn refreshes(
        &self,
        group_id: &str,
        dataset_id: &str,
        top: u32,
    ) -> Result<Vec<Refresh>> {
        Ok(self
            .get::<List<Refresh>>(
                &format!("groups/{group_id}/datasets/{dataset_id}/refreshes?$top={top}"),
                "reading the dataset's refresh history",
            )
            .await?
            .value)
    }

    /// Deletes a dataset ("Datasets - Delete Dataset In Group").
    pub async fn delete_dataset(&self, group_id: &str, dataset_id: &str) -> Result<()> {
        let url = self.url(&format!("groups/{group_id}/datasets/{dataset_id}"))?;
        let rb = self.http.delete(url.clone());
        self.send(rb, &url, "deleting a dataset").await?;
        Ok(())
    }

    /// Registered dataflow storage accounts.
    pub async fn storage_accounts(&self) -> Result<Vec<StorageAccount>> {
        Ok(self
            .get::<List<StorageAccount>>("dataflowStorageAccounts", "listing storage accounts")
            .await?
            .value)
    }

    /// Attaches a workspace to a storage account, or detaches it with [`ZERO_GUID`].
    pub async fn assign_storage(&self, group_id: &str, storage_id: &str) -> Result<()> {
        let url = self.url(&format!("groups/{group_id}/AssignToDataflowStorage"))?;
        let rb = self.http.post(url.clone()).json(&json!({"dataflowStorageId": storage_id}));
        self.send(rb, &url, "assigning storage").await?;
        Ok(())
    }

    /// The workspace named `name`: exact match; with `<name> - <id>` for duplicates; otherwise an error naming the
    /// nearest names.
    pub async fn group_by_name(&self, name: &str) -> Result<Group> {
        let groups = self.groups().await?;
        find_group(&groups, name)
    }
}

/// The registered storage account a workspace is attached to (its `dataflowStorageId` among `accounts`).
pub fn linked_account<'a>(
    accounts: &'a [StorageAccount],
    group: &Group,
) -> Option<&'a StorageAccount> {
    let id = group.dataflow_storage_id.as_deref()?;
    accounts.iter().find(|a| a.id.eq_ignore_ascii_case(id))
}

/// Finds a workspace by name in a list, with the same rules as [`PowerBiApi::group_by_name`].
pub fn find_group(groups: &[Group], name: &str) -> Result<Group> {
    crate::names::find_one(groups, name, "workspace", |g| (g.name.as_str(), g.id.as_str())).cloned()
}
