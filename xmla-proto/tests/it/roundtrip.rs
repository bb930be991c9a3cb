//! Property tests: whatever this crate writes it reads back unchanged, and no input makes a parser panic.

use proptest::prelude::*;
use xmla_proto::strategies;
use xmla_proto::{
    Outcome, Request, parse_response, write_failure, write_fault, write_rowset, write_success,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_request_round_trips(request in strategies::request()) {
        let xml = request.to_xml().unwrap();
        prop_assert_eq!(Request::parse(xml.as_bytes()).unwrap(), request);
    }

    #[test]
    fn any_outcome_round_trips(outcome in strategies::outcome()) {
        let body = match &outcome {
            Outcome::Succeeded => write_success(None, &[]),
            Outcome::SucceededWithWarnings(w) => write_success(Some("s-1"), w),
            Outcome::Failed(f) => match &f.fault {
                Some(fault) => write_fault(fault, &f.errors),
                None => write_failure(&f.errors, &f.warnings),
            },
        }.unwrap();
        prop_assert_eq!(parse_response(body.as_bytes()).unwrap().outcome, outcome);
    }

    #[test]
    fn any_rowset_round_trips((columns, rows) in strategies::rows()) {
        let cols: Vec<&str> = columns.iter().map(String::as_str).collect();
        let body = write_rowset(&cols, &rows).unwrap();
        let parsed = parse_response(body.as_bytes()).unwrap();
        prop_assert_eq!(parsed.outcome, Outcome::Succeeded);
        prop_assert_eq!(parsed.rows, rows);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_response_parser(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_response(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_request_parser(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Request::parse(&bytes);
    }

    #[test]
    fn mutated_responses_never_panic(outcome in strategies::outcome(), cut in any::<prop::sample::Index>(), byte in any::<u8>(), at in any::<prop::sample::Index>()) {
        let body = match &outcome {
            Outcome::Failed(f) if f.fault.is_none() => write_failure(&f.errors, &f.warnings).unwrap(),
            _ => write_success(None, &[]).unwrap(),
        };
        let mut bytes = body.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        bytes.truncate(cut.index(bytes.len() + 1));
        let _ = parse_response(&bytes);
    }

    #[test]
    fn mutated_requests_never_panic(request in strategies::request(), byte in any::<u8>(), at in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = request.to_xml().unwrap().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        bytes.truncate(cut.index(bytes.len() + 1));
        let _ = Request::parse(&bytes);
    }
}
