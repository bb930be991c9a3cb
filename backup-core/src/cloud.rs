//! The Azure clouds Power BI runs in, and each one's endpoints: where to sign in, the Power BI API and the resource
//! its tokens are for, Azure Resource Manager, and the storage accounts' DNS suffix. One `[powerbi] cloud` setting
//! picks them all; each stays overridable on its own (`authority`, `api`, `PBI_BACKUP_ARM_URL`, a storage
//! `endpoint`).
//!
//! Sources: Power BI's national-cloud parameters ("Embed Power BI content for national/regional clouds",
//! learn.microsoft.com/power-bi/developer/embedded/embed-sample-for-customers-national-clouds, and its docs.azure.cn
//! twin for China), "Power BI for US government customers" (learn.microsoft.com/power-bi/enterprise/
//! service-govus-overview), and Azure's per-cloud endpoints ("Azure Government developer guide",
//! learn.microsoft.com/azure/azure-government/compare-azure-government-global-azure; "Azure China developer guide",
//! learn.microsoft.com/azure/china/resources-developer-guide). Where they are silent: GCC's Entra is the public
//! one while its Azure resources (ARM, storage) are taken to be Azure Government's; override `PBI_BACKUP_ARM_URL`
//! and the storage endpoint when a GCC tenant's storage account is in commercial Azure.
//!
//! Azure Analysis Services servers name their cloud in their own address (`asazure://<region>.asazure.chinacloudapi.cn/
//! <server>`): their tokens' scope follows the server's domain (`service::auth::aas_scope`), whatever
//! `cloud` says.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An Azure cloud.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    /// The public (commercial) cloud.
    #[default]
    Public,
    /// Azure operated by 21Vianet (Power BI China).
    China,
    /// US Government Community Cloud (GCC).
    Usgov,
    /// US Government Community Cloud High (GCC High).
    Usgovhigh,
    /// US Department of Defense (DoD).
    Dod,
}

/// Every cloud, in the order the settings name them.
pub const CLOUDS: [Cloud; 5] =
    [Cloud::Public, Cloud::China, Cloud::Usgov, Cloud::Usgovhigh, Cloud::Dod];

impl Cloud {
    /// The Entra authority host.
    pub fn authority(self) -> &'static str {
        match self {
            Cloud::Public | Cloud::Usgov => "https://login.microsoftonline.com/",
            Cloud::China => "https://login.chinacloudapi.cn/",
            Cloud::Usgovhigh | Cloud::Dod => "https://login.microsoftonline.us/",
        }
    }

    /// The Power BI REST API base.
    pub fn powerbi_api(self) -> &'static str {
        match self {
            Cloud::Public => "https://api.powerbi.com/",
            Cloud::China => "https://api.powerbi.cn/",
            Cloud::Usgov => "https://api.powerbigov.us/",
            Cloud::Usgovhigh => "https://api.high.powerbigov.us/",
            Cloud::Dod => "https://api.mil.powerbigov.us/",
        }
    }

    /// The scope of Power BI tokens (REST and XMLA).
    pub fn powerbi_scope(self) -> &'static str {
        match self {
            Cloud::Public => "https://analysis.windows.net/powerbi/api/.default",
            Cloud::China => "https://analysis.chinacloudapi.cn/powerbi/api/.default",
            Cloud::Usgov => "https://analysis.usgovcloudapi.net/powerbi/api/.default",
            Cloud::Usgovhigh => "https://high.analysis.usgovcloudapi.net/powerbi/api/.default",
            Cloud::Dod => "https://mil.analysis.usgovcloudapi.net/powerbi/api/.default",
        }
    }

    /// Azure Resource Manager's base.
    pub fn arm(self) -> &'static str {
        match self {
            Cloud::Public => "https://management.azure.com/",
            Cloud::China => "https://management.chinacloudapi.cn/",
            Cloud::Usgov | Cloud::Usgovhigh | Cloud::Dod => "https://management.usgovcloudapi.net/",
        }
    }

    /// The scope of Azure Resource Manager tokens.
    pub fn arm_scope(self) -> String {
        format!("{}.default", self.arm())
    }

    /// The DNS suffix of storage accounts (`<account>.dfs.<suffix>`).
    pub fn storage_suffix(self) -> &'static str {
        match self {
            Cloud::Public => "core.windows.net",
            Cloud::China => "core.chinacloudapi.cn",
            Cloud::Usgov | Cloud::Usgovhigh | Cloud::Dod => "core.usgovcloudapi.net",
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cloud::Public => "public",
            Cloud::China => "china",
            Cloud::Usgov => "usgov",
            Cloud::Usgovhigh => "usgovhigh",
            Cloud::Dod => "dod",
        })
    }
}

impl FromStr for Cloud {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        CLOUDS.into_iter().find(|c| c.to_string().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            let names: Vec<String> = CLOUDS.iter().map(ToString::to_string).collect();
            format!("'{s}' is not a cloud; use one of {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cloud_is_named_and_parsed_back() {
        for c in CLOUDS {
            assert_eq!(c.to_string().parse::<Cloud>().unwrap(), c);
            for url in [c.authority(), c.powerbi_api(), c.arm()] {
                assert!(url.starts_with("https://") && url.ends_with('/'), "{c}: {url}");
            }
            assert!(c.powerbi_scope().ends_with("/powerbi/api/.default"), "{c}");
        }
        let err = "moon".parse::<Cloud>().unwrap_err();
        assert!(err.contains("public, china, usgov, usgovhigh, dod"), "{err}");
        assert_eq!(Cloud::China.powerbi_api(), "https://api.powerbi.cn/");
        assert_eq!(Cloud::Usgovhigh.authority(), "https://login.microsoftonline.us/");
    }
}
