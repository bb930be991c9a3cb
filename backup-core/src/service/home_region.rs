//! The tenant's home region, learned from the service.
//!
//! No documented API tells it. Two undocumented calls answer with the tenant's home ("fixed") cluster, whose host
//! name carries the region:
//! - `GET /powerbi/globalservice/v201606/clusterdetails` → `{"clusterUrl": "https://wabi-…-redirect.analysis.windows.net"}`
//!   (used by the Fabric analytics SDK's `MWCTokenCredentialV1` and SynapseML; may be refused to service principals);
//! - `PUT /spglobalservice/GetOrInsertClusterUrisByTenantLocation` → `FixedClusterUri` among `DynamicClusterUri`,
//!   `TTLSeconds`, … (microsoft/vscode-fabric `FabricApiClient.ts`, sql-bi/Bravo `TenantCluster.cs`,
//!   silverhack/monkey365), the call the legacy XMLA path already makes.
//!
//! Host names seen in public code and docs follow `wabi-<cluster region>[-<letter>][-primary]-redirect.analysis.
//! windows.net`: `wabi-north-europe-redirect`, `wabi-west-europe-d-primary-redirect`, `wabi-us-east2-b-primary-
//! redirect`, `wabi-us-north-central-redirect` (Microsoft Learn's REST troubleshooting page), `wabi-south-east-asia-
//! c-primary-redirect`, `wabi-west-us3-a-primary-redirect`, `wabi-india-west-a-primary-redirect`. No source pairs a
//! cluster name with an Azure region name, so the reading below is a guess from those names (ARCHITECTURE.md, "Where
//! the sources are silent"): a `wabi-…-redirect` name outside those examples is read by dropping its hyphens, and a
//! host of any other shape is left unknown.

use serde_json::Value;

use crate::service::http::str_field;

/// The Azure region name (`northeurope`, `eastus2`) of a Power BI cluster URL, when its host reads as one.
pub fn region_of_cluster(url: &str) -> Option<String> {
    let host = url::Url::parse(url).ok()?.host_str()?.to_ascii_lowercase();
    let label = host.split('.').next()?;
    let name = label.strip_prefix("wabi-")?;
    let name = name.strip_suffix("-redirect").or_else(|| name.strip_suffix("-api"))?;
    let mut words: Vec<&str> = name.split('-').collect();
    if words.last() == Some(&"primary") {
        words.pop();
    }
    // A one-letter word is a scale unit within the region (`-d-`, `-b-`), not part of its name.
    if words.len() > 1 && words.last().is_some_and(|w| w.len() == 1) {
        words.pop();
    }
    if words.is_empty()
        || words.iter().any(|w| w.is_empty() || !w.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return None;
    }
    Some(azure_name(&words))
}

/// The Azure spelling of a cluster's region words: US regions put `us` first (`us-east2` is `eastus2`,
/// `us-north-central` is `northcentralus`), except the government ones (`us-gov-virginia` is `usgovvirginia`);
/// India's regions put `india` first (`india-west` is `westindia`); the rest only lose their hyphens
/// (`south-east-asia` is `southeastasia`, `west-us3` is `westus3`).
fn azure_name(words: &[&str]) -> String {
    match words {
        ["us", "gov", rest @ ..] => format!("usgov{}", rest.concat()),
        ["us", rest @ ..] if !rest.is_empty() => {
            let last = rest[rest.len() - 1];
            let digits = last.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            let head = &last[..last.len() - digits.len()];
            format!("{}{head}us{digits}", rest[..rest.len() - 1].concat())
        }
        ["india", rest @ ..] if !rest.is_empty() => format!("{}india", rest.concat()),
        _ => words.concat(),
    }
}

/// The home cluster URL in a `clusterdetails` answer.
pub(crate) fn cluster_url_of_details(body: &Value) -> Option<String> {
    body.as_object().and_then(|o| str_field(o, "clusterUrl"))
}

/// The home cluster URL in a `GetOrInsertClusterUrisByTenantLocation` answer.
pub(crate) fn cluster_url_of_lookup(body: &Value) -> Option<String> {
    body.as_object().and_then(|o| str_field(o, "FixedClusterUri"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_host_names_seen_in_public_sources_read_as_azure_regions() {
        for (url, region) in [
            ("https://wabi-north-europe-redirect.analysis.windows.net/", "northeurope"),
            ("https://wabi-north-europe-o-primary-redirect.analysis.windows.net", "northeurope"),
            ("https://WABI-NORTH-EUROPE-N-PRIMARY-redirect.analysis.windows.net/", "northeurope"),
            ("https://wabi-west-europe-d-primary-redirect.analysis.windows.net/", "westeurope"),
            ("https://wabi-us-east2-b-primary-redirect.analysis.windows.net/", "eastus2"),
            ("https://wabi-us-east2-redirect.analysis.windows.net/", "eastus2"),
            (
                "https://wabi-us-north-central-redirect.analysis.windows.net/metadata/cluster",
                "northcentralus",
            ),
            ("https://wabi-us-north-central-b-redirect.analysis.windows.net/", "northcentralus"),
            ("https://wabi-us-central-b-primary-redirect.analysis.windows.net/", "centralus"),
            ("https://wabi-west-us3-a-primary-redirect.analysis.windows.net/", "westus3"),
            (
                "https://wabi-south-east-asia-c-primary-redirect.analysis.windows.net/",
                "southeastasia",
            ),
            ("https://wabi-uk-south-b-primary-redirect.analysis.windows.net/", "uksouth"),
            ("https://wabi-brazil-south-b-primary-redirect.analysis.windows.net/", "brazilsouth"),
            ("https://wabi-korea-central-a-primary-redirect.analysis.windows.net/", "koreacentral"),
            ("https://wabi-india-west-a-primary-redirect.analysis.windows.net/", "westindia"),
            ("https://wabi-us-gov-virginia-redirect.analysis.usgovcloudapi.net/", "usgovvirginia"),
            ("https://wabi-west-europe-api.analysis.windows.net/", "westeurope"),
        ] {
            assert_eq!(region_of_cluster(url).as_deref(), Some(region), "{url}");
        }
        for url in [
            "http://127.0.0.1:8080/",
            "https://api.powerbi.com/",
            "https://wabi--redirect.analysis.windows.net/",
            "https://wabi-x_y-redirect.analysis.windows.net/",
            "not a url",
        ] {
            assert_eq!(region_of_cluster(url), None, "{url}");
        }
    }
}
