//! URLs as the tool shows and accepts them: never a query string in a message, never plain http off loopback.

use std::net::IpAddr;

use url::Url;

use crate::error::{Error, Result};

/// A URL as it may be shown: scheme, host, port and path, never the query (SAS signatures live there).
pub fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    u.to_string()
}

/// An error with its causes, without URLs' query strings (reqwest includes the URL; ours never carry secrets in
/// the query, but strip it anyway).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    match s.find('?') {
        Some(i) if s[i..].contains('=') => {
            let end = s[i..].find([' ', ')']).map_or(s.len(), |j| i + j);
            s.replace_range(i..end, "");
            s
        }
        _ => s,
    }
}

/// Refuses `http://` unless the host is loopback: credentials and backups never travel in clear text.
pub fn check_plain_http(url: &Url) -> Result<()> {
    if url.scheme() != "http" {
        return Ok(());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    };
    if loopback {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "refusing plain http to {}: credentials would travel unencrypted; use https://",
            url.host_str().unwrap_or("(no host)")
        )))
    }
}
