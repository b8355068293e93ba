//! Replication's configuration documents.
//!
//! A bucket's replication document: bucket configuration `replication`, JSON. The gateway
//! writes it (the admin API registers targets; PutBucketReplication sets the rules), the
//! replication component reads it to send, and the object layer reads the rules' filters to
//! decide what a write queues (it has its own minimal view of the same JSON).

use serde::{Deserialize, Serialize};

/// The bucket configuration document's name.
pub const DOCUMENT: &str = "replication";
/// ARNs of targets: `arn:tessera:replication::<target id>:<target bucket>`.
pub const ARN_PREFIX: &str = "arn:tessera:replication::";

/// The site document: node configuration `site`, JSON. Every bucket of this site is mirrored to
/// every peer, both ways (each site replicates its buckets to the others).
pub const SITE_DOCUMENT: &str = "site";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SiteDocument {
    #[serde(default)]
    pub peers: Vec<Peer>,
}

/// Another site: its S3 endpoint and the (admin) credentials this site writes it with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Peer {
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    /// Sealed like a target's, so a bucket's target to this peer can carry it as it is.
    pub sealed_secret_key: String,
}

/// A header on the requests one site makes to another to mirror a bucket: the peer applies them
/// without mirroring them back (no loops).
pub const SITE_HEADER: &str = "x-tessera-site";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReplicationDocument {
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// The IAM role of PutBucketReplication, kept to give it back.
    #[serde(default)]
    pub role: String,
}

/// Where replicas go: an S3 endpoint, a bucket there and the credentials to write it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    /// `http://host:port` or `https://host`.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    /// The secret key, sealed (`secret-box`, the access key as associated data).
    pub sealed_secret_key: String,
    /// Writes wait for this target (`--sync`).
    #[serde(default)]
    pub sync: bool,
}

impl Target {
    pub fn arn(&self) -> String {
        format!("{ARN_PREFIX}{}:{}", self.id, self.bucket)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Replicate delete markers (DeleteMarkerReplication), and unversioned deletes.
    #[serde(default)]
    pub delete_markers: bool,
    /// The target's id.
    pub target: String,
}

impl Rule {
    pub fn takes(&self, key: &str, tags: &[(String, String)], is_delete: bool) -> bool {
        self.enabled
            && key.starts_with(&self.prefix)
            && (!is_delete || self.delete_markers)
            && (is_delete || self.tags.iter().all(|wanted| tags.contains(wanted)))
    }
}

impl ReplicationDocument {
    pub fn target(&self, id: &str) -> Option<&Target> {
        self.targets.iter().find(|target| target.id == id)
    }

    /// The target an ARN names: ours (`arn:tessera:replication::<id>:<bucket>`), or an AWS
    /// bucket ARN (`arn:aws:s3:::<bucket>`) when exactly one target writes that bucket.
    pub fn target_of_arn(&self, arn: &str) -> Option<&Target> {
        if let Some(rest) = arn.strip_prefix(ARN_PREFIX) {
            let (id, bucket) = rest.split_once(':')?;
            return self.target(id).filter(|target| target.bucket == bucket);
        }
        let bucket = arn.strip_prefix("arn:aws:s3:::")?;
        let mut matching = self.targets.iter().filter(|target| target.bucket == bucket);
        let first = matching.next()?;
        matching.next().is_none().then_some(first)
    }

    /// The targets whose rules take this write, each once, in priority order.
    pub fn targets_for(&self, key: &str, tags: &[(String, String)], is_delete: bool) -> Vec<&Target> {
        let mut rules: Vec<&Rule> = self.rules.iter().filter(|rule| rule.takes(key, tags, is_delete)).collect();
        rules.sort_by_key(|rule| std::cmp::Reverse(rule.priority));
        let mut targets: Vec<&Target> = Vec::new();
        for rule in rules {
            if let Some(target) = self.target(&rule.target)
                && !targets.iter().any(|seen| seen.id == target.id)
            {
                targets.push(target);
            }
        }
        targets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str, bucket: &str) -> Target {
        Target {
            id: id.into(),
            endpoint: "http://127.0.0.1:9001".into(),
            bucket: bucket.into(),
            region: "us-east-1".into(),
            access_key: "k".into(),
            sealed_secret_key: "s".into(),
            sync: false,
        }
    }

    fn rule(id: &str, target: &str, prefix: &str, priority: i32) -> Rule {
        Rule {
            id: id.into(),
            enabled: true,
            priority,
            prefix: prefix.into(),
            tags: Vec::new(),
            delete_markers: true,
            target: target.into(),
        }
    }

    #[test]
    fn arns_name_targets() {
        let document = ReplicationDocument { targets: vec![target("a1", "tb"), target("b2", "other")], ..Default::default() };
        assert_eq!(document.target_of_arn("arn:tessera:replication::a1:tb").map(|t| t.id.as_str()), Some("a1"));
        assert!(document.target_of_arn("arn:tessera:replication::a1:other").is_none());
        assert_eq!(document.target_of_arn("arn:aws:s3:::other").map(|t| t.id.as_str()), Some("b2"));
        assert!(document.target_of_arn("arn:aws:s3:::missing").is_none());
    }

    #[test]
    fn each_target_once_by_priority() {
        let document = ReplicationDocument {
            targets: vec![target("a1", "tb"), target("b2", "other")],
            rules: vec![rule("r1", "a1", "", 1), rule("r2", "b2", "docs/", 5), rule("r3", "a1", "docs/", 3)],
            role: String::new(),
        };
        let ids: Vec<&str> = document.targets_for("docs/x", &[], false).iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["b2", "a1"]);
        let ids: Vec<&str> = document.targets_for("img/x", &[], false).iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["a1"]);
    }
}
