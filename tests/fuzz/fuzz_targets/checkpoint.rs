//! A checkpoint object is read from S3, where anyone with write access to
//! the bucket can put anything. Parsing must refuse garbage with an error,
//! never panic, and what it accepts must be usable: it re-serializes to the
//! same state, merges idempotently, and its file ids can be displayed and
//! turned into keys.
#![no_main]

use auditship::checkpoint::Checkpoint;
use auditship::instance::{Instance, InstanceId, ResourceId, Role};
use libfuzzer_sys::fuzz_target;

fn instance() -> Instance {
    Instance {
        id: InstanceId("db-1".into()),
        resource_id: ResourceId("db-RES".into()),
        cluster: None,
        role: Role::Standalone,
        engine: "mariadb".into(),
        status: "available".into(),
        endpoint: None,
        account: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let instance = instance();
    let Ok(cp) = Checkpoint::parse(data, "s3://fuzz/cp.json", &instance) else { return };
    let again = serde_json::to_vec(&cp).expect("an accepted checkpoint serializes");
    let reparsed = Checkpoint::parse(&again, "s3://fuzz/cp.json", &instance).expect("re-parses");
    assert_eq!(reparsed, cp);
    let mut merged = cp.clone();
    merged.merge(&cp);
    assert_eq!(merged.files, cp.files);
    for id in cp.files.keys().chain(cp.gaps.iter().map(|g| &g.file_id)) {
        let _ = (id.time(), id.date());
        let _ = auditship::keys::object_key("p", &instance, id, 0);
    }
});
