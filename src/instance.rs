//! Instance: who an instance is. Identity types only, at the bottom of the
//! module graph: every layer names instances with these, none of them
//! knows how instances are found.
//!
//! **Architecture invariant:** state is keyed by `ResourceId`
//! (`DbiResourceId`, region-unique, never reused); `InstanceId` is what the
//! RDS APIs take; `Role` is metadata, worked out afresh on every run.

use serde::Serialize;
use std::fmt;

/// `DBInstanceIdentifier`: the name the RDS APIs take.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct InstanceId(pub String);

/// `DbiResourceId`: the identity state is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ResourceId(pub String);

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Writer,
    Reader,
    Standalone,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Writer => "writer",
            Role::Reader => "reader",
            Role::Standalone => "standalone",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    /// Named as in every output: `instance` and `dbi_resource_id`.
    #[serde(rename = "instance")]
    pub id: InstanceId,
    #[serde(rename = "dbi_resource_id")]
    pub resource_id: ResourceId,
    pub cluster: Option<String>,
    pub role: Role,
    pub engine: String,
    pub status: String,
    /// `host:port` the database answers on (`doctor`, SQL discovery).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The AWS account the instance is in (from its ARN): the events'
    /// `cloud.account.uid`, and Security Lake's `accountId=` partition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

#[cfg(test)]
impl Instance {
    /// A standalone MariaDB instance `db-1` with resource id `rid`.
    pub fn for_tests(rid: &str) -> Instance {
        Instance {
            id: InstanceId("db-1".into()),
            resource_id: ResourceId(rid.into()),
            cluster: None,
            role: Role::Standalone,
            engine: "mariadb".into(),
            status: "available".into(),
            endpoint: None,
            account: None,
        }
    }
}
