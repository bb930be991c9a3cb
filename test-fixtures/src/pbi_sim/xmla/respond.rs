//! The HTTP answers of the XMLA doors: an XMLA body (with the continuation byte a client that accepts them
//! expects), a failure, a fault.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::answer::{self, Message};

pub(super) fn xml_response(status: StatusCode, body: String, headers: &HeaderMap) -> Response {
    let mut bytes = body.into_bytes();
    if headers.get("x-ms-accepts-continuations").and_then(|v| v.to_str().ok()) == Some("1") {
        bytes.push(0);
    }
    (
        status,
        [
            ("Content-Type", "text/xml; charset=utf-8"),
            ("x-ms-xmlacaps-negotiation-flags", "0,0,0,0,0"),
        ],
        bytes,
    )
        .into_response()
}

pub(super) fn failure(
    errors: Vec<Message>,
    warnings: Vec<Message>,
    headers: &HeaderMap,
) -> Response {
    xml_response(StatusCode::OK, answer::failure(&errors, &warnings), headers)
}

pub(super) fn fault(code: &str, text: &str, headers: &HeaderMap) -> Response {
    xml_response(StatusCode::INTERNAL_SERVER_ERROR, answer::fault(code, text), headers)
}
