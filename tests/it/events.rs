//! The event parser against real MariaDB audit lines: statements with
//! quotes, commas, backslashes, a newline and a tab, bytes that are not
//! UTF-8, one longer than `server_audit_query_log_limit`, and a failed
//! login, each found field by field.

use crate::common::*;
use auditship::events::parse::AuditRecord;
use auditship::events::parse_object;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_mariadb_lines_parse_field_by_field() {
    let stack = Stack::start(Options::default()).await;
    let db = &stack.primary;
    let statements: Vec<Vec<u8>> = vec![
        b"SELECT 'a,b' AS `comma, inside`".to_vec(),
        b"SELECT 'it''s', \"dq\", 'back\\\\slash', 'q\\'uote'".to_vec(),
        b"SELECT 'line\none',\t'tab'".to_vec(),
        b"SELECT '\xff\xfe not utf-8'".to_vec(),
        b"SELECT 'caf\xc3\xa9'".to_vec(),
    ];
    for s in &statements {
        db.sql_bytes(s);
    }
    let long = format!("SELECT '{}'", "x".repeat(3000));
    assert!(db.sql_bytes(long.as_bytes()));
    assert!(!db.login("app", "wrong-password"), "a wrong password is refused");

    let files = db.audit_files();
    let mut records: Vec<AuditRecord> = Vec::new();
    for (name, bytes) in &files {
        for event in parse_object(bytes, 0) {
            let record = event.record.unwrap_or_else(|e| {
                panic!("{name}@{}: {e}: {}", event.line.offset, String::from_utf8_lossy(event.line.bytes))
            });
            records.push(record);
        }
    }
    assert!(!records.is_empty());
    for s in &statements {
        let found = records.iter().find(|r| r.operation == b"QUERY" && *r.object == s[..]);
        let found = found.unwrap_or_else(|| panic!("no record of {}", String::from_utf8_lossy(s)));
        assert_eq!((found.user, found.host, found.retcode), (&b"root"[..], &b"localhost"[..], 0), "{found:?}");
        assert!(found.quoted && found.connection_id > 0 && found.query_id > 0, "{found:?}");
    }
    // Cut at the plugin's limit (1024 bytes by default): a prefix.
    let cut = records.iter().find(|r| r.object.starts_with(b"SELECT 'xxxx")).expect("the long statement");
    assert!(cut.object.len() < long.len() && long.as_bytes().starts_with(&cut.object), "{}", cut.object.len());
    let failed = records.iter().find(|r| r.operation == b"FAILED_CONNECT").expect("a failed login");
    assert_eq!((failed.user, failed.host, failed.retcode), (&b"app"[..], &b"127.0.0.1"[..], 1045), "{failed:?}");
}
