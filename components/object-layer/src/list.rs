//! Listing (ListObjectsV2): an ordered walk of the key tree, merged across drives.
//!
//! Every key segment is a directory; a directory that holds `.meta` is also an object. Within a
//! directory the object "name" sorts at "name" and its subtree at "name/", so walking the
//! merged, decoded entries in that order yields keys in S3's byte order. With the delimiter
//! "/" a subtree below the prefix is reported as one common prefix and never entered.

use std::collections::BTreeSet;

use crate::bindings::exports::tessera::node::objects::{ListPage, ListQuery, VersionEntry, VersionsPage, VersionsQuery};
use crate::buckets;
use crate::error::ObjectError;
use crate::get;
use crate::meta::VersionKind;
use crate::names::{MAX_KEY_BYTES, escape_segment, key_to_path, unescape_segment};
use crate::set::{self, ErasureSet};

/// The most entries one page returns (as S3).
pub const MAX_KEYS: u32 = 1000;

pub fn list(set: &ErasureSet, bucket: &str, query: &ListQuery) -> Result<ListPage, ObjectError> {
    buckets::head(set, bucket)?;
    let limit = query.max_keys.min(MAX_KEYS) as usize;
    let mut walk = Walk::new(set, bucket, query, limit, false);
    walk.run()?;
    Ok(walk.page)
}

/// ListObjectVersions: the same walk, each key's versions newest first, one entry each; the
/// markers are those of the last entry.
pub fn list_versions(set: &ErasureSet, bucket: &str, query: &VersionsQuery) -> Result<VersionsPage, ObjectError> {
    buckets::head(set, bucket)?;
    let limit = query.max_keys.min(MAX_KEYS) as usize;
    let keys = ListQuery {
        prefix: query.prefix.clone(),
        delimiter: query.delimiter.clone(),
        after: query.key_marker.clone(),
        max_keys: query.max_keys,
    };
    let mut walk = Walk::new(set, bucket, &keys, limit, false);
    walk.versions = Some(Vec::new());
    // The marker's key first: its versions older than the marker version.
    if !query.key_marker.is_empty() && !query.version_id_marker.is_empty() && query.key_marker.starts_with(query.prefix.as_str()) {
        walk.key_versions(&query.key_marker, Some(&query.version_id_marker))?;
    }
    walk.run()?;
    let truncated = walk.page.is_truncated;
    Ok(VersionsPage {
        versions: walk.versions.take().unwrap_or_default(),
        common_prefixes: std::mem::take(&mut walk.page.common_prefixes),
        is_truncated: truncated,
        next_key_marker: if truncated { walk.page.next_after.clone() } else { None },
        next_version_id_marker: if truncated { walk.last_version_id.clone() } else { None },
    })
}

/// The time a version id begins with (13 hex digits of milliseconds), if it is one of ours.
fn version_time(version_id: &str) -> Option<u64> {
    u64::from_str_radix(version_id.get(..13)?, 16).ok().filter(|_| version_id.len() == 32)
}

/// Every name after `after` that some drive has a directory for, in key order, at most
/// `limit`: what healing looks at, including copies too scarce to be listed. Also says whether
/// more follow.
pub fn names(set: &ErasureSet, bucket: &str, after: &str, limit: usize) -> Result<(Vec<String>, bool), ObjectError> {
    let query = ListQuery { prefix: String::new(), delimiter: String::new(), after: after.to_owned(), max_keys: limit as u32 };
    let mut walk = Walk::new(set, bucket, &query, limit, true);
    walk.run()?;
    Ok((walk.names.unwrap_or_default(), walk.page.is_truncated))
}

impl<'a> Walk<'a> {
    fn new(set: &'a ErasureSet, bucket: &'a str, query: &'a ListQuery, limit: usize, names_only: bool) -> Self {
        Walk {
            set,
            bucket,
            query,
            limit,
            page: ListPage { objects: Vec::new(), common_prefixes: Vec::new(), is_truncated: false, next_after: None },
            emitted: 0,
            names: names_only.then(Vec::new),
            versions: None,
            last_version_id: None,
        }
    }

    fn run(&mut self) -> Result<(), ObjectError> {
        let (query, bucket) = (self.query, self.bucket);
        if self.limit == 0 || query.prefix.len() > MAX_KEY_BYTES {
            return Ok(());
        }
        // Start in the deepest directory the prefix names entirely.
        let dir_key = match query.prefix.rfind('/') {
            Some(slash) => &query.prefix[..=slash],
            None => "",
        };
        let mut dir_path = bucket.to_owned();
        if !dir_key.is_empty() {
            for segment in dir_key[..dir_key.len() - 1].split('/') {
                dir_path.push('/');
                dir_path.push_str(&escape_segment(segment));
            }
        }
        self.directory(dir_key, &dir_path)
    }
}

struct Walk<'a> {
    set: &'a ErasureSet,
    bucket: &'a str,
    query: &'a ListQuery,
    limit: usize,
    page: ListPage,
    emitted: usize,
    /// Collecting names for healing instead of listing objects.
    names: Option<Vec<String>>,
    /// Listing versions instead of objects, and the id of the last one listed.
    versions: Option<Vec<VersionEntry>>,
    last_version_id: Option<String>,
}

enum Item {
    Object,
    Subtree,
}

impl Walk<'_> {
    fn done(&self) -> bool {
        self.page.is_truncated
    }

    fn directory(&mut self, dir_key: &str, dir_path: &str) -> Result<(), ObjectError> {
        let mut items = Vec::new();
        for (name, escaped) in self.merged_entries(dir_path) {
            items.push((format!("{dir_key}{name}"), Item::Object, escaped.clone()));
            items.push((format!("{dir_key}{name}/"), Item::Subtree, escaped));
        }
        items.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (key, item, escaped) in items {
            if self.done() {
                return Ok(());
            }
            match item {
                Item::Object => self.object(&key)?,
                Item::Subtree => self.subtree(&key, &format!("{dir_path}/{escaped}"))?,
            }
        }
        Ok(())
    }

    /// Decoded names of the key directories below `dir_path` on any drive, with their escaped
    /// form. Our own entries (leading '.') are skipped.
    fn merged_entries(&self, dir_path: &str) -> BTreeSet<(String, String)> {
        let mut names = BTreeSet::new();
        for entries in self.set.each(|drive| drive.list_dir(dir_path)).into_iter().flatten() {
            for entry in entries.into_iter().filter(|entry| entry.is_dir) {
                if let Some(name) = unescape_segment(&entry.name) {
                    names.insert((name, entry.name));
                }
            }
        }
        names
    }

    fn object(&mut self, key: &str) -> Result<(), ObjectError> {
        let prefix = &self.query.prefix;
        if !key.starts_with(prefix.as_str()) || key <= self.query.after.as_str() {
            return Ok(());
        }
        if let Some(common) = self.common_prefix(key) {
            return self.emit_prefix(common);
        }
        if self.names.is_some() {
            let name = key.to_owned();
            self.emit(key, |_| {});
            if let Some(names) = self.names.as_mut().filter(|_| !self.page.is_truncated) {
                names.push(name);
            }
            return Ok(());
        }
        if self.versions.is_some() {
            return self.key_versions(key, None);
        }
        match get::find(self.set, self.bucket, key, None) {
            Ok(found) => {
                let info = found.info(self.bucket, key);
                self.emit(key, |page| page.objects.push(info));
                Ok(())
            }
            // A key whose latest version is a delete marker is not listed.
            Err(ObjectError::NoSuchKey | ObjectError::DeleteMarker(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Lists the versions of `key` (those older than `after_version`, when given).
    fn key_versions(&mut self, key: &str, after_version: Option<&str>) -> Result<(), ObjectError> {
        let object_dir = set::object_dir(self.bucket, &key_to_path(key)?);
        let versions = get::agreed_versions(&get::read_metas(self.set, &object_dir), self.set.layout.read_quorum());
        let start = match after_version {
            Some(marker) => match versions.iter().position(|version| version.version_id == marker) {
                Some(index) => index + 1,
                // The marker version went between two pages: resume where it stood in the
                // order (time, then id; our ids begin with their time). Without a time to go
                // by, start the key over: a repeat is better than a silent gap.
                None => match version_time(marker) {
                    Some(marker_ms) => versions
                        .iter()
                        .position(|version| (version.modified_ms, version.version_id.as_str()) < (marker_ms, marker))
                        .unwrap_or(versions.len()),
                    None => 0,
                },
            },
            None => 0,
        };
        for (index, version) in versions.iter().enumerate().skip(start) {
            if self.emitted == self.limit {
                self.page.is_truncated = true;
                return Ok(());
            }
            let entry = VersionEntry {
                info: get::info(self.bucket, key, version),
                is_latest: index == 0,
                is_delete_marker: version.kind == VersionKind::DeleteMarker,
            };
            self.versions.get_or_insert_with(Vec::new).push(entry);
            self.emitted += 1;
            self.page.next_after = Some(key.to_owned());
            self.last_version_id = Some(version.version_id.clone());
        }
        Ok(())
    }

    fn subtree(&mut self, subtree_key: &str, subtree_path: &str) -> Result<(), ObjectError> {
        let prefix = self.query.prefix.as_str();
        let after = self.query.after.as_str();
        if !(subtree_key.starts_with(prefix) || prefix.starts_with(subtree_key)) {
            return Ok(());
        }
        // Every key below starts with `subtree_key`: all of them are ≤ `after` in that case.
        if after > subtree_key && !after.starts_with(subtree_key) {
            return Ok(());
        }
        if self.query.delimiter == "/" && subtree_key.starts_with(prefix) {
            if self.merged_entries(subtree_path).is_empty() {
                return Ok(());
            }
            return self.emit_prefix(subtree_key.to_owned());
        }
        self.directory(subtree_key, subtree_path)
    }

    /// The common prefix `key` rolls up into under the delimiter, if any.
    fn common_prefix(&self, key: &str) -> Option<String> {
        let delimiter = self.query.delimiter.as_str();
        if delimiter.is_empty() {
            return None;
        }
        let rest = &key[self.query.prefix.len()..];
        let at = rest.find(delimiter)?;
        Some(format!("{}{}", self.query.prefix, &rest[..at + delimiter.len()]))
    }

    fn emit_prefix(&mut self, common: String) -> Result<(), ObjectError> {
        if common.as_str() <= self.query.after.as_str() || self.page.common_prefixes.last() == Some(&common) {
            return Ok(());
        }
        let marker = common.clone();
        let before = self.emitted;
        self.emit(&marker, |page| page.common_prefixes.push(common));
        // A page that ends on a common prefix continues after it, not after a version.
        if self.emitted > before {
            self.last_version_id = None;
        }
        Ok(())
    }

    /// Adds one entry, or notes that the page is full and there is more.
    fn emit(&mut self, marker: &str, add: impl FnOnce(&mut ListPage)) {
        if self.emitted == self.limit {
            self.page.is_truncated = true;
            return;
        }
        add(&mut self.page);
        self.emitted += 1;
        self.page.next_after = Some(marker.to_owned());
    }
}
