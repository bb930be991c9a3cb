//! Feeds arbitrary bytes to the response and request parsers: they must return, never panic or run away.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = xmla_proto::parse_response(data);
    let _ = xmla_proto::Request::parse(data);
});
