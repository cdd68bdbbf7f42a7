//! What a bucket's object versions say of a trail. In a bucket that keeps
//! versions (Object Lock needs versioning), deleting an object leaves a
//! delete marker over the version that holds its bytes, and overwriting it
//! leaves the version it replaced. auditship never deletes or overwrites
//! an object or a digest (both are created with `If-None-Match`), so any
//! marker or second version under them is someone else's doing: `verify`
//! names when, and which version still holds the bytes. Pure: the versions
//! are read by `audit`.

use crate::store::Version;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// A key whose current version is a delete marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// When the marker was made.
    pub at: DateTime<Utc>,
    /// The newest version beneath it that holds bytes: deleting the marker
    /// (or copying this version over it) puts the object back.
    pub version_id: Option<String>,
}

impl Deletion {
    /// `a delete marker of 2026-12-02T10:00:00Z hides it; version 3HL4… still holds its bytes (…)`.
    pub fn describe(&self) -> String {
        let at = super::digest::rfc3339(self.at);
        match &self.version_id {
            Some(v) => format!(
                "a delete marker of {at} hides it; version {v} still holds its bytes (delete the marker to put it back)"
            ),
            None => format!("a delete marker of {at} hides it, and no earlier version is left"),
        }
    }
}

/// How a key that is there now changed since it was first written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Deleted (a delete marker) and written again since.
    PutBack,
    /// Written over: more than one version holds bytes.
    Overwritten,
}

/// A key of the trail that is there now but was deleted or overwritten
/// before: history an auditor sees, not itself a problem (the problems
/// say whether what is there now is what the digests list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyChange {
    pub key: String,
    pub change: ChangeKind,
    /// When the current version was written.
    pub at: DateTime<Utc>,
    /// How many versions and delete markers the key has.
    pub versions: usize,
}

/// Every key's versions and markers, newest first.
#[derive(Debug, Clone, Default)]
pub struct History {
    by_key: BTreeMap<String, Vec<Version>>,
}

impl History {
    pub fn of(versions: impl IntoIterator<Item = Version>) -> History {
        let mut by_key: BTreeMap<String, Vec<Version>> = BTreeMap::new();
        for v in versions {
            by_key.entry(v.key.clone()).or_default().push(v);
        }
        for versions in by_key.values_mut() {
            // The current one first, then newest first.
            versions.sort_by(|a, b| b.latest.cmp(&a.latest).then(b.last_modified.cmp(&a.last_modified)));
        }
        History { by_key }
    }

    /// The key's deletion, if its current version is a delete marker.
    pub fn deletion(&self, key: &str) -> Option<Deletion> {
        let versions = self.by_key.get(key)?;
        let current = versions.first().filter(|v| v.latest && v.delete_marker)?;
        let holding = versions.iter().find(|v| !v.delete_marker);
        Some(Deletion { at: current.last_modified, version_id: holding.map(|v| v.version_id.clone()) })
    }

    /// How a key that is there now changed since it was first written.
    pub fn change(&self, key: &str) -> Option<KeyChange> {
        let versions = self.by_key.get(key)?;
        let current = versions.first().filter(|v| v.latest && !v.delete_marker)?;
        let change = if versions.iter().any(|v| v.delete_marker) {
            ChangeKind::PutBack
        } else if versions.len() > 1 {
            ChangeKind::Overwritten
        } else {
            return None;
        };
        Some(KeyChange { key: key.to_string(), change, at: current.last_modified, versions: versions.len() })
    }

    /// Keys under `prefix` whose current version is a delete marker.
    pub fn deleted_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, Deletion)> + 'a {
        self.by_key
            .range(prefix.to_string()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .filter_map(|(k, _)| self.deletion(k).map(|d| (k.as_str(), d)))
    }

    /// Keys under `prefix` that are there now and changed since first
    /// written.
    pub fn changed_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = KeyChange> + 'a {
        self.by_key
            .range(prefix.to_string()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .filter_map(|(k, _)| self.change(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(key: &str, id: &str, minute: u32, latest: bool, marker: bool) -> Version {
        Version {
            key: key.into(),
            version_id: id.into(),
            latest,
            delete_marker: marker,
            last_modified: format!("2026-12-02T10:{minute:02}:00Z").parse().unwrap(),
        }
    }

    #[test]
    fn versions_tell_deleted_put_back_and_overwritten_keys_apart() {
        let history = History::of([
            v("p/a", "a1", 1, false, false),
            v("p/a", "a2", 5, true, true),
            v("p/b", "b1", 1, false, false),
            v("p/b", "b2", 3, false, true),
            v("p/b", "b3", 4, true, false),
            v("p/c", "c1", 1, false, false),
            v("p/c", "c2", 2, true, false),
            v("p/d", "d1", 1, true, false),
            v("p/e", "e1", 2, true, true),
            v("q/a", "x1", 2, true, true),
        ]);
        let deletion = history.deletion("p/a").unwrap();
        assert_eq!(
            (deletion.at.to_rfc3339(), deletion.version_id.as_deref()),
            ("2026-12-02T10:05:00+00:00".into(), Some("a1"))
        );
        assert!(deletion.describe().contains("version a1 still holds its bytes"), "{}", deletion.describe());
        assert_eq!(history.deletion("p/e").unwrap().version_id, None, "a marker with nothing beneath it");
        assert_eq!(history.change("p/b").map(|c| (c.change, c.versions)), Some((ChangeKind::PutBack, 3)));
        assert_eq!(history.change("p/c").map(|c| c.change), Some(ChangeKind::Overwritten));
        assert_eq!(history.change("p/d"), None, "written once");
        assert_eq!((history.deletion("p/b"), history.change("p/a")), (None, None));
        let deleted: Vec<&str> = history.deleted_under("p/").map(|(k, _)| k).collect();
        assert_eq!(deleted, vec!["p/a", "p/e"]);
        let changed: Vec<String> = history.changed_under("p/").map(|c| c.key).collect();
        assert_eq!(changed, vec!["p/b", "p/c"]);
    }
}
