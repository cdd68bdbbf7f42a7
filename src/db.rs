//! Db: the database itself, for what the RDS API cannot tell: whether the
//! audit plugin records what matters (`doctor`) and who the replicas are
//! (SQL discovery). Read-only statements only.

use crate::config::{DbAccess, DbAuth, DbTls, Secret};
use crate::error::Failure;
use crate::signer::{sign_get, AwsIdentity, Placement};
use mysql_async::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// The audit plugin's settings, as `SHOW GLOBAL VARIABLES` gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditSettings {
    pub variables: BTreeMap<String, String>,
}

impl AuditSettings {
    fn get(&self, name: &str) -> Option<&str> {
        self.variables.get(name).map(String::as_str)
    }

    /// `server_audit_logging` is ON (MariaDB plugin, Aurora MySQL alike).
    pub fn logging_on(&self) -> bool {
        matches!(self.get("server_audit_logging").map(str::to_ascii_uppercase).as_deref(), Some("ON" | "1"))
    }

    /// Event classes that matter and are not recorded. An empty
    /// `server_audit_events` records everything; QUERY is also satisfied by
    /// its parts QUERY_DDL, QUERY_DML and QUERY_DCL together.
    pub fn missing_events(&self) -> Vec<&'static str> {
        let events: Vec<String> = self
            .get("server_audit_events")
            .unwrap_or_default()
            .split(',')
            .map(|e| e.trim().to_ascii_uppercase())
            .filter(|e| !e.is_empty())
            .collect();
        if events.is_empty() {
            return Vec::new();
        }
        let has = |e: &str| events.iter().any(|x| x == e);
        let mut missing = Vec::new();
        if !has("CONNECT") {
            missing.push("CONNECT");
        }
        if !has("QUERY") && !(has("QUERY_DDL") && has("QUERY_DML") && has("QUERY_DCL")) {
            missing.push("QUERY");
        }
        missing
    }

    /// Users whose activity is not recorded, if the settings exclude any.
    pub fn excluded_users(&self) -> Option<String> {
        self.get("server_audit_excl_users").filter(|u| !u.trim().is_empty()).map(str::to_string)
    }

    /// When set, only these users are recorded.
    pub fn only_users(&self) -> Option<String> {
        self.get("server_audit_incl_users").filter(|u| !u.trim().is_empty()).map(str::to_string)
    }
}

/// An RDS IAM authentication token for `user` at `endpoint`: the URL
/// `endpoint/?Action=connect&DBUser=user` presigned for the `rds-db`
/// service, valid 15 minutes, without its scheme (what the AWS SDKs'
/// `generate_db_auth_token` produce).
pub fn auth_token(
    credentials: &aws_credential_types::Credentials,
    region: &str,
    endpoint: &str,
    user: &str,
    at: std::time::SystemTime,
) -> Result<Secret, Failure> {
    let user_q: String = percent_encoding::utf8_percent_encode(user, percent_encoding::NON_ALPHANUMERIC).to_string();
    let url = format!("https://{endpoint}/?Action=connect&DBUser={user_q}");
    let placement = Placement::Query { expires_in: Duration::from_secs(900) };
    let instructions = sign_get(credentials, region, "rds-db", &url, &[("host", endpoint)], placement, at)?;
    let unsigned = || Failure::needs_person(format!("cannot make an IAM auth token for {endpoint}"));
    let mut request = http::Request::get(&url).body(()).map_err(|_| unsigned())?;
    instructions.apply_to_request_http1x(&mut request);
    let signed = request.uri().to_string();
    Ok(Secret::new(signed.strip_prefix("https://").unwrap_or(&signed)))
}

/// The password for one connection: as given, or a fresh IAM token made
/// with the worker's AWS credentials and region.
async fn password_for(access: &DbAccess, endpoint: &str, aws: &AwsIdentity) -> Result<Secret, Failure> {
    match &access.auth {
        DbAuth::Password(p) => Ok(p.clone()),
        DbAuth::IamToken => {
            let credentials = aws.credentials().await?;
            auth_token(&credentials, aws.region(), endpoint, &access.user, std::time::SystemTime::now())
        }
    }
}

/// Opens a connection to `endpoint` (`host:port`).
pub async fn connect(access: &DbAccess, endpoint: &str, aws: &AwsIdentity) -> Result<mysql_async::Conn, Failure> {
    let (host, port) = endpoint
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| Failure::needs_person(format!("database endpoint '{endpoint}' is not HOST:PORT")))?;
    let password = password_for(access, endpoint, aws).await?;
    let mut opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(access.user.clone()))
        .pass(Some(password.expose().to_string()))
        // IAM tokens go as clear text, which is why they need TLS.
        .enable_cleartext_plugin(matches!(access.auth, DbAuth::IamToken))
        .prefer_socket(false);
    if access.tls == DbTls::Required {
        let mut ssl = mysql_async::SslOpts::default();
        if let Some(ca) = &access.ca_file {
            ssl = ssl.with_root_certs(vec![ca.clone().into()]);
        }
        opts = opts.ssl_opts(Some(ssl));
    }
    let connecting = mysql_async::Conn::new(opts);
    match tokio::time::timeout(Duration::from_secs(15), connecting).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(Failure::needs_person(format!(
            "cannot log in to the database at {endpoint} as {}: {e}; check --db-user, the password \
             (AUDITSHIP_DB_PASSWORD or --db-password-file), --db-tls/--db-ca-file and the security group",
            access.user
        ))),
        Err(_) => Err(Failure::transient(format!(
            "no answer from the database at {endpoint} within 15 s: check the security group and the endpoint"
        ))),
    }
}

/// Reads the audit plugin's variables.
pub async fn audit_settings(conn: &mut mysql_async::Conn) -> Result<AuditSettings, Failure> {
    let rows: Vec<(String, String)> = conn
        .query("SHOW GLOBAL VARIABLES LIKE 'server_audit%'")
        .await
        .map_err(|e| Failure::needs_person(format!("cannot read the audit settings (SHOW GLOBAL VARIABLES): {e}")))?;
    Ok(AuditSettings { variables: rows.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect() })
}

/// What a database says about replication around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// Aurora MySQL: every instance of the cluster by identifier, and
    /// whether it is the writer.
    Aurora(Vec<(String, bool)>),
    /// MySQL / MariaDB: the primary this server replicates from (if it is
    /// a replica), and the replicas registered with this server.
    Classic { primary: Option<(String, u16)>, replicas: Vec<(String, u16)> },
}

/// Aurora's `replica_host_status` rows (`SERVER_ID`, `SESSION_ID`): the
/// server id is the instance identifier; the writer's session id is
/// `MASTER_SESSION_ID`.
pub fn aurora_members(rows: Vec<(String, String)>) -> Vec<(String, bool)> {
    let mut members: BTreeMap<String, bool> = BTreeMap::new();
    for (server, session) in rows {
        *members.entry(server).or_default() |= session == "MASTER_SESSION_ID";
    }
    members.into_iter().collect()
}

/// Asks the server who its writer and replicas are.
pub async fn replication(conn: &mut mysql_async::Conn) -> Result<Replication, Failure> {
    // Only Aurora has this table; elsewhere the query fails or is empty.
    let aurora: Result<Vec<(String, String)>, _> =
        conn.query("SELECT SERVER_ID, SESSION_ID FROM information_schema.replica_host_status").await;
    if let Ok(rows) = aurora {
        if !rows.is_empty() {
            return Ok(Replication::Aurora(aurora_members(rows)));
        }
    }
    let status = first_answer(conn, &["SHOW REPLICA STATUS", "SHOW SLAVE STATUS"]).await?;
    let primary = status.first().and_then(|row| {
        let host = column(row, &["Source_Host", "Master_Host"])?;
        let port = column(row, &["Source_Port", "Master_Port"])?.parse().ok()?;
        Some((host, port))
    });
    let hosts = first_answer(conn, &["SHOW REPLICAS", "SHOW REPLICA HOSTS", "SHOW SLAVE HOSTS"]).await?;
    let replicas =
        hosts.iter().filter_map(|row| Some((column(row, &["Host"])?, column(row, &["Port"])?.parse().ok()?))).collect();
    Ok(Replication::Classic { primary, replicas })
}

/// The rows of the first statement the server understands (MySQL 8.4
/// dropped the SLAVE forms; MariaDB and older MySQL know only some forms).
async fn first_answer(conn: &mut mysql_async::Conn, statements: &[&str]) -> Result<Vec<mysql_async::Row>, Failure> {
    let mut last = None;
    for statement in statements {
        match conn.query::<mysql_async::Row, _>(*statement).await {
            Ok(rows) => return Ok(rows),
            Err(e) => last = Some(format!("{statement}: {e}")),
        }
    }
    Err(Failure::needs_person(format!(
        "cannot read the replication topology ({}): the user needs REPLICATION CLIENT (or REPLICA MONITOR)",
        last.unwrap_or_default()
    )))
}

/// A column's value as text, by the first of its names the row has.
fn column(row: &mysql_async::Row, names: &[&str]) -> Option<String> {
    let columns = row.columns_ref();
    let index = names.iter().find_map(|n| columns.iter().position(|c| c.name_str() == *n))?;
    match row.as_ref(index)? {
        mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(b).to_string()),
        mysql_async::Value::Int(i) => Some(i.to_string()),
        mysql_async::Value::UInt(u) => Some(u.to_string()),
        _ => None,
    }
    .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> AuditSettings {
        AuditSettings { variables: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    #[test]
    fn logging_on_and_off() {
        assert!(settings(&[("server_audit_logging", "ON")]).logging_on());
        assert!(!settings(&[("server_audit_logging", "OFF")]).logging_on());
        assert!(!settings(&[]).logging_on(), "no plugin at all is off");
    }

    #[test]
    fn events_that_matter() {
        assert_eq!(settings(&[("server_audit_events", "")]).missing_events(), Vec::<&str>::new());
        assert_eq!(settings(&[("server_audit_events", "CONNECT,QUERY")]).missing_events(), Vec::<&str>::new());
        assert_eq!(
            settings(&[("server_audit_events", "connect,query_ddl,query_dml,query_dcl")]).missing_events(),
            Vec::<&str>::new()
        );
        assert_eq!(settings(&[("server_audit_events", "QUERY_DDL")]).missing_events(), vec!["CONNECT", "QUERY"]);
        assert_eq!(settings(&[("server_audit_events", "CONNECT,TABLE")]).missing_events(), vec!["QUERY"]);
    }

    #[test]
    fn aurora_rows_map_to_instances_with_the_writer_marked() {
        let rows = vec![
            ("shop-reader-2".to_string(), "a1b2c3".to_string()),
            ("shop-writer".to_string(), "MASTER_SESSION_ID".to_string()),
            ("shop-reader-1".to_string(), "d4e5f6".to_string()),
            // The same instance twice: rows merge (roles are confirmed by
            // DescribeDBClusters afterwards in any case).
            ("shop-reader-1".to_string(), "MASTER_SESSION_ID".to_string()),
        ];
        assert_eq!(
            aurora_members(rows),
            vec![("shop-reader-1".into(), true), ("shop-reader-2".into(), false), ("shop-writer".into(), true)]
        );
    }

    #[test]
    fn iam_auth_token_is_a_presigned_connect_url_without_scheme() {
        let credentials = aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let endpoint = "shop-1.abc.eu-west-1.rds.amazonaws.com:3306";
        let token = auth_token(&credentials, "eu-west-1", endpoint, "audit user", at).unwrap();
        let t = token.expose();
        assert!(t.starts_with(&format!("{endpoint}/?Action=connect&DBUser=audit%20user&")), "{t}");
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Feu-west-1%2Frds-db%2Faws4_request",
            "X-Amz-Date=20231114T221320Z",
            "X-Amz-Expires=900",
            "X-Amz-SignedHeaders=host",
        ] {
            assert!(t.contains(part), "{part} missing from {t}");
        }
        // The token botocore's generate_db_auth_token gives for the same
        // credentials, region, endpoint, user and time.
        assert_eq!(
            t,
            "shop-1.abc.eu-west-1.rds.amazonaws.com:3306/?Action=connect&DBUser=audit%20user\
             &X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Feu-west-1%2Frds-db%2Faws4_request\
             &X-Amz-Date=20231114T221320Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=064a7ba906d5e19cdf832f8c8c1a293467218dda8b24380b624437399dbdb613"
        );
        // Deterministic for the same inputs, different for another user.
        assert_eq!(auth_token(&credentials, "eu-west-1", endpoint, "audit user", at).unwrap(), token);
        assert_ne!(auth_token(&credentials, "eu-west-1", endpoint, "other", at).unwrap(), token);
        assert_eq!(format!("{token:?}"), "***");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        let access =
            DbAccess { user: "u".into(), auth: DbAuth::Password(s), tls: DbTls::Off, ca_file: None, endpoint: None };
        assert!(!format!("{access:?}").contains("hunter2"));
    }
}
