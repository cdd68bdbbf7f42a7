//! Object and checkpoint keys. Pure functions: a key is derived from what
//! the object holds (instance, file identity, byte offset), never from the
//! clock, the run, or the file's current name, so every run, repeated or
//! overlapping, names the same bytes the same way.

use crate::identify::FileId;
use crate::instance::Instance;

/// `{prefix}/{cluster|standalone}/{instance-id}/dt={YYYY-MM-DD}/{file-id}/{start:020}.log.gz`
pub fn object_key(prefix: &str, instance: &Instance, file: &FileId, start: u64) -> String {
    let location = instance.cluster.as_deref().unwrap_or("standalone");
    join(prefix, &format!("{location}/{}/dt={}/{file}/{start:020}.log.gz", instance.id, file.date()))
}

/// The checkpoint of one instance: `{prefix}/_state/{DbiResourceId}.json`.
pub fn checkpoint_key(prefix: &str, instance: &Instance) -> String {
    join(prefix, &format!("_state/{}.json", instance.resource_id))
}

/// Which resource id an instance identifier stands for:
/// `{prefix}/_state/instances/{instance-id}.json`.
pub fn instance_pointer_key(prefix: &str, instance: &Instance) -> String {
    join(prefix, &format!("_state/instances/{}.json", instance.id))
}

/// One period's digest of one instance:
/// `{prefix}/_digests/{DbiResourceId}/{YYYY}/{MM}/{DD}/{period-end YYYYMMDDTHHMMSSZ}.json`.
/// Keyed by the period's end, so every run names a period's digest the same.
pub fn digest_key(prefix: &str, resource_id: &str, period_end: chrono::DateTime<chrono::Utc>) -> String {
    join(prefix, &format!("{}{}.json", digest_prefix_of(resource_id), period_end.format("%Y/%m/%d/%Y%m%dT%H%M%SZ")))
}

/// The prefix under which all of an instance's digests live.
pub fn digest_prefix(prefix: &str, resource_id: &str) -> String {
    join(prefix, &digest_prefix_of(resource_id))
}

fn digest_prefix_of(resource_id: &str) -> String {
    format!("_digests/{resource_id}/")
}

/// The prefix under which all of a file's objects live.
pub fn file_prefix(prefix: &str, instance: &Instance, file: &FileId) -> String {
    let key = object_key(prefix, instance, file, 0);
    key[..key.rfind('/').expect("key has a slash") + 1].to_string()
}

/// The prefix under which all of an instance's objects live.
pub fn instance_prefix(prefix: &str, instance: &Instance) -> String {
    let location = instance.cluster.as_deref().unwrap_or("standalone");
    join(prefix, &format!("{location}/{}/", instance.id))
}

/// The file id and start offset an object key names, if it is shaped like
/// an auditship object key.
pub fn parse_object_key(key: &str) -> Option<(FileId, u64)> {
    let start = start_of_key(key)?;
    let mut segments = key.rsplit('/');
    segments.next()?;
    let id = FileId(segments.next()?.to_string());
    id.is_well_formed().then_some((id, start))
}

/// The start offset an object key names (`…/{start:020}.log.gz`).
pub fn start_of_key(key: &str) -> Option<u64> {
    let name = key.rsplit('/').next()?;
    let digits = name.strip_suffix(".log.gz")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `rest` under `prefix` (a prefix of "" or "/" is the bucket's root).
pub fn join(prefix: &str, rest: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        rest.to_string()
    } else {
        format!("{prefix}/{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::{InstanceId, ResourceId, Role};

    fn instance(cluster: Option<&str>, role: Role) -> Instance {
        Instance {
            id: InstanceId("db-1".into()),
            resource_id: ResourceId("db-ABCDEFGHIJKL".into()),
            cluster: cluster.map(str::to_string),
            role,
            engine: "mariadb".into(),
            status: "available".into(),
            endpoint: None,
            account: None,
        }
    }

    #[test]
    fn object_key_layout() {
        let file = FileId("20261121T223901Z-3f9a1c2b".into());
        assert_eq!(
            object_key("audit/", &instance(None, Role::Standalone), &file, 1234),
            "audit/standalone/db-1/dt=2026-11-21/20261121T223901Z-3f9a1c2b/00000000000000001234.log.gz"
        );
        assert_eq!(
            object_key("", &instance(Some("prod"), Role::Writer), &file, 0),
            "prod/db-1/dt=2026-11-21/20261121T223901Z-3f9a1c2b/00000000000000000000.log.gz"
        );
    }

    #[test]
    fn key_does_not_depend_on_role() {
        // Failover swaps roles; the same bytes must keep the same key.
        let file = FileId("20261121T223901Z-3f9a1c2b".into());
        assert_eq!(
            object_key("p", &instance(Some("c"), Role::Writer), &file, 7),
            object_key("p", &instance(Some("c"), Role::Reader), &file, 7)
        );
    }

    #[test]
    fn digest_keys_sort_by_period_and_live_under_the_resource_id() {
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        let key = digest_key("audit/", "db-ABC", at("2026-12-02T15:00:00Z"));
        assert_eq!(key, "audit/_digests/db-ABC/2026/12/02/20261202T150000Z.json");
        assert!(key.starts_with(&digest_prefix("audit", "db-ABC")));
        assert!(key < digest_key("audit", "db-ABC", at("2026-12-02T16:00:00Z")));
    }

    #[test]
    fn offsets_sort_as_text() {
        let file = FileId("20261121T223901Z-3f9a1c2b".into());
        let i = instance(None, Role::Standalone);
        assert!(object_key("p", &i, &file, 999) < object_key("p", &i, &file, 1000));
    }

    #[test]
    fn start_offset_reads_back_from_the_key() {
        let file = FileId("20261121T223901Z-3f9a1c2b".into());
        let key = object_key("p", &instance(Some("c"), Role::Writer), &file, 123_456);
        assert_eq!(start_of_key(&key), Some(123_456));
        assert_eq!(start_of_key("p/x/00000000000000000001.log"), None);
        assert_eq!(start_of_key("p/x/1.log.gz"), None);
        assert_eq!(start_of_key("p/x/9999999999999999999x.log.gz"), None);
    }

    #[test]
    fn object_keys_parse_back_under_the_instance_prefix() {
        let file = FileId("20261121T223901Z-3f9a1c2b".into());
        let i = instance(Some("c"), Role::Reader);
        let key = object_key("p", &i, &file, 77);
        assert!(key.starts_with(&instance_prefix("p", &i)));
        assert_eq!(parse_object_key(&key), Some((file, 77)));
        assert_eq!(parse_object_key("p/c/db-1/dt=2026-11-21/notanid/00000000000000000077.log.gz"), None);
    }

    #[test]
    fn checkpoint_key_is_by_resource_id() {
        assert_eq!(checkpoint_key("/audit/", &instance(None, Role::Standalone)), "audit/_state/db-ABCDEFGHIJKL.json");
        assert_eq!(
            file_prefix("a", &instance(None, Role::Standalone), &FileId("20261121T223901Z-3f9a1c2b".into())),
            "a/standalone/db-1/dt=2026-11-21/20261121T223901Z-3f9a1c2b/"
        );
    }
}
