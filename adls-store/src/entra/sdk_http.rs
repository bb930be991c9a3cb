//! The HTTP transport of the Azure sign-in SDK (`azure_core` 1.x): the project's own reqwest client, so sign-in
//! trusts the same certificates (the platform's store, `SSL_CERT_FILE`), uses the same proxy settings
//! (`HTTPS_PROXY`, `NO_PROXY`) and has the same bounded connect and read times as every other request.

use std::collections::HashMap;
use std::time::Duration;

use azure_core_v1::error::{Error, ErrorKind};
use azure_core_v1::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core_v1::http::{AsyncRawResponse, Body, HttpClient, Request};
use futures::TryStreamExt as _;

/// A reqwest client as the SDK's [`HttpClient`].
#[derive(Debug, Clone)]
pub(crate) struct SdkHttp(reqwest::Client);

impl SdkHttp {
    /// A client that gives up connecting after `connect` and waiting for an answer after `read`, trusting the
    /// certificate authorities in the PEM file `ca_file` besides the platform's.
    pub(crate) fn new(
        connect: Duration,
        read: Duration,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect)
            .read_timeout(read)
            // Entra and the managed identity endpoints answer; they do not redirect.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                format!("cannot read the certificate authorities file {}: {e}", path.display())
            })?;
            let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                format!("the certificate authorities file {} is not PEM: {e}", path.display())
            })?;
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        builder
            .build()
            .map(SdkHttp)
            .map_err(|e| format!("cannot build the sign-in HTTP client: {e}"))
    }
}

#[async_trait::async_trait]
impl HttpClient for SdkHttp {
    async fn execute_request(&self, request: &Request) -> azure_core_v1::Result<AsyncRawResponse> {
        let method =
            reqwest::Method::from_bytes(request.method().as_str().as_bytes()).map_err(|e| {
                Error::with_error(ErrorKind::Other, e, "an HTTP method reqwest does not know")
            })?;
        let mut rb = self.0.request(method, request.url().clone());
        for (name, value) in request.headers().iter() {
            rb = rb.header(name.as_str(), value.as_str());
        }
        rb = match request.body() {
            Body::Bytes(bytes) => rb.body(bytes.clone()),
            // Signing in sends forms and queries; a streamed body would be a new use of this transport.
            Body::SeekableStream(_) => {
                return Err(Error::with_message(
                    ErrorKind::Other,
                    "the sign-in transport sends bodies of known size only",
                ));
            }
        };
        let response = rb.send().await.map_err(|e| {
            let kind = if e.is_connect() { ErrorKind::Connection } else { ErrorKind::Io };
            Error::with_error(kind, e, "the sign-in request could not be sent")
        })?;
        let status = response.status().as_u16();
        let headers: HashMap<HeaderName, HeaderValue> = response
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                let v = v.to_str().ok()?;
                Some((HeaderName::from(k.as_str().to_owned()), HeaderValue::from(v.to_owned())))
            })
            .collect();
        let body = response
            .bytes_stream()
            .map_err(|e| Error::with_error(ErrorKind::Io, e, "the sign-in answer broke off"));
        Ok(AsyncRawResponse::new(status.into(), Headers::from(headers), Box::pin(body)))
    }
}
