//! XMLA endpoint addresses: `powerbi://`, `asazure://` and plain `http(s)://`.

use std::fmt;

use percent_encoding::percent_decode_str;
use url::Url;

use crate::error::{Error, Result};
use crate::urls::check_plain_http;

/// Where XMLA commands go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `powerbi://<host>/v1.0/<tenant>/<workspace>`: a Power BI Premium or PPU workspace.
    PowerBi {
        /// The API host named in the URL (`api.powerbi.com` in the public cloud).
        host: String,
        /// `myorg`, a tenant name or a tenant id.
        tenant: String,
        /// The workspace name, percent-decoded (`%2F` becomes `/`).
        workspace: String,
    },
    /// `asazure://<region>.asazure.windows.net/<server>`: an Azure Analysis Services server.
    Aas {
        /// `<region>.asazure.windows.net`.
        host: String,
        /// The server name.
        server: String,
    },
    /// Any `http(s)://` XMLA URL, e.g. `https://host/olap/msmdpump.dll`.
    Http {
        /// The URL.
        url: Url,
    },
}

impl Endpoint {
    /// The endpoint of a workspace by name in the public cloud (`powerbi://api.powerbi.com/v1.0/myorg/<name>`).
    pub fn workspace(name: impl Into<String>) -> Endpoint {
        Endpoint::PowerBi {
            host: "api.powerbi.com".into(),
            tenant: "myorg".into(),
            workspace: name.into(),
        }
    }

    /// Parses an endpoint URL. Plain `http://` is refused for any host but loopback.
    pub fn parse(s: &str) -> Result<Endpoint> {
        let s = s.trim();
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            Error::Usage(format!(
                "'{s}' is not an xmla endpoint; use powerbi://api.powerbi.com/v1.0/myorg/<workspace>, asazure://<region>.asazure.windows.net/<server> or an https:// url"
            ))
        })?;
        match scheme.to_ascii_lowercase().as_str() {
            "powerbi" => {
                let mut parts = rest.splitn(4, '/');
                let host = parts.next().unwrap_or_default();
                let version = parts.next().unwrap_or_default();
                let tenant = parts.next().unwrap_or_default();
                let workspace = parts.next().unwrap_or_default().trim_end_matches('/');
                if host.is_empty() || version != "v1.0" || tenant.is_empty() || workspace.is_empty()
                {
                    return Err(Error::Usage(format!(
                        "'{s}' is not a power bi workspace url; the form is powerbi://api.powerbi.com/v1.0/myorg/<workspace name>"
                    )));
                }
                let workspace = percent_decode_str(workspace).decode_utf8().map_err(|_| {
                    Error::Usage(format!(
                        "the workspace name in '{s}' is not valid utf-8 after percent-decoding"
                    ))
                })?;
                Ok(Endpoint::PowerBi {
                    host: host.into(),
                    tenant: tenant.into(),
                    workspace: workspace.into_owned(),
                })
            }
            "asazure" => {
                let (host, server) = rest.split_once('/').unwrap_or((rest, ""));
                let server = server.trim_end_matches('/');
                if host.is_empty() || server.is_empty() || server.contains('/') {
                    return Err(Error::Usage(format!(
                        "'{s}' is not an analysis services server url; the form is asazure://<region>.asazure.windows.net/<server>"
                    )));
                }
                Ok(Endpoint::Aas { host: host.into(), server: server.into() })
            }
            "http" | "https" => {
                let url = Url::parse(s)
                    .map_err(|e| Error::Usage(format!("'{s}' is not a valid url: {e}")))?;
                check_plain_http(&url)?;
                Ok(Endpoint::Http { url })
            }
            other => Err(Error::Usage(format!(
                "unknown endpoint scheme '{other}://'; use powerbi://, asazure://, https:// (or http:// on loopback)"
            ))),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::PowerBi { host, tenant, workspace } => {
                let encoded = percent_encoding::utf8_percent_encode(workspace, WORKSPACE_ENCODE);
                write!(f, "powerbi://{host}/v1.0/{tenant}/{encoded}")
            }
            Endpoint::Aas { host, server } => write!(f, "asazure://{host}/{server}"),
            Endpoint::Http { url } => write!(f, "{}", crate::urls::redact_url(url)),
        }
    }
}

/// Characters percent-encoded in a displayed workspace name: controls, `/`, `%`, and `?`/`#`.
const WORKSPACE_ENCODE: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b'/').add(b'%').add(b'?').add(b'#');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        assert_eq!(
            Endpoint::parse("powerbi://api.powerbi.com/v1.0/myorg/Sales%2FEU team").unwrap(),
            Endpoint::PowerBi {
                host: "api.powerbi.com".into(),
                tenant: "myorg".into(),
                workspace: "Sales/EU team".into()
            }
        );
        assert_eq!(
            Endpoint::parse("asazure://westeurope.asazure.windows.net/myserver").unwrap(),
            Endpoint::Aas {
                host: "westeurope.asazure.windows.net".into(),
                server: "myserver".into()
            }
        );
        assert!(matches!(
            Endpoint::parse("https://host/olap/msmdpump.dll").unwrap(),
            Endpoint::Http { .. }
        ));
        assert!(matches!(
            Endpoint::parse("http://127.0.0.1:8080/xmla").unwrap(),
            Endpoint::Http { .. }
        ));
        assert!(matches!(
            Endpoint::parse("http://[::1]:8080/xmla").unwrap(),
            Endpoint::Http { .. }
        ));
    }

    #[test]
    fn refuses_bad_urls_with_the_remedy() {
        let cases = [
            ("http://example.com/olap/msmdpump.dll", "refusing plain http to example.com"),
            ("powerbi://api.powerbi.com/v1.0/myorg/", "the form is powerbi://"),
            ("powerbi://api.powerbi.com/v2/myorg/x", "the form is powerbi://"),
            ("asazure://westeurope.asazure.windows.net", "the form is asazure://"),
            ("ftp://x/y", "unknown endpoint scheme 'ftp://'"),
            ("Sales", "is not an xmla endpoint"),
        ];
        for (input, expected) in cases {
            let err = Endpoint::parse(input).unwrap_err().to_string();
            assert!(err.contains(expected), "{input}: {err}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "powerbi://api.powerbi.com/v1.0/myorg/Sales%2FEU%20team",
            "asazure://westeurope.asazure.windows.net/srv",
        ] {
            let e = Endpoint::parse(s).unwrap();
            assert_eq!(Endpoint::parse(&e.to_string()).unwrap(), e);
        }
    }
}
