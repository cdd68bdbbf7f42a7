//! Object metadata and RDS error bodies come over the network. Reading them
//! must not panic; metadata the worker writes must read back as written.
#![no_main]

use auditship::store::ObjectFacts;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

const KEYS: [&str; 9] = [
    "start-offset",
    "end-offset",
    "sha256",
    "lines",
    "source-file",
    "role",
    "instance-id",
    "dbi-resource-id",
    "file-id",
];

fuzz_target!(|data: &[u8]| {
    let _ = auditship::fetch::error_code(data);
    let text = String::from_utf8_lossy(data);
    let values: Vec<&str> = text.split('\u{0}').collect();
    let m: HashMap<String, String> =
        KEYS.iter().zip(values.iter()).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if let Some(facts) = ObjectFacts::from_metadata(&m) {
        assert_eq!(ObjectFacts::from_metadata(&facts.to_metadata()), Some(facts));
    }
});
