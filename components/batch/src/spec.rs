//! Job specs: the YAML a user submits, checked into a `JobSpec` (kept as JSON with the job).
//! Every mistake is reported with the field it is in.
//!
//! ```yaml
//! name: docs-md
//! schedule: "@once"            # or "@every 10m", or cron: "*/10 * * * *" (6 fields: seconds first)
//! source: {bucket: raw, prefix: docs/, modified-after: 2026-01-01T00:00:00Z}
//! transform: to-markdown       # a built-in name, or a path to a .wasm transform component
//! params: {mode: redact}       # the transform's settings
//! target: {bucket: md, prefix: docs/}
//! ```
//! or, instead of `transform` and `target`, `action: expire | tag | replicate` (`tag` takes
//! `tags: {k: v}`). Source filters: `modified-after`, `modified-before`, `older-than`,
//! `newer-than` (durations: 30s, 10m, 12h, 7d), `min-size`, `max-size`, `tags`,
//! `content-type` (a prefix, e.g. `text/`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;

/// Fuel one object may take unless the spec says: far beyond any sane document conversion,
/// small enough that a loop is stopped within seconds.
pub const DEFAULT_FUEL: u64 = 20_000_000_000;
pub const DEFAULT_MEMORY_MIB: u64 = 256;
const MAX_MEMORY_MIB: u64 = 4096;
const MAX_NAME_CHARS: usize = 128;

/// A spec that cannot run: the field, and what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

fn error(field: &str, message: impl Into<String>) -> SpecError {
    SpecError { field: field.to_owned(), message: message.into() }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSpec {
    name: String,
    #[serde(default)]
    schedule: Option<String>,
    source: RawSource,
    #[serde(default)]
    transform: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, String>,
    #[serde(default)]
    target: Option<RawLocation>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    limits: Option<RawLimits>,
    #[serde(default)]
    quarantine: Option<RawLocation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSource {
    bucket: String,
    #[serde(default)]
    prefix: String,
    modified_after: Option<String>,
    modified_before: Option<String>,
    older_than: Option<String>,
    newer_than: Option<String>,
    min_size: Option<u64>,
    max_size: Option<u64>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    content_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLocation {
    bucket: String,
    #[serde(default)]
    prefix: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLimits {
    fuel: Option<u64>,
    memory_mib: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobSpec {
    pub name: String,
    pub schedule: String,
    pub source: Source,
    pub work: Work,
    pub fuel: u64,
    pub memory_bytes: u64,
    pub quarantine: Option<Location>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Source {
    pub bucket: String,
    pub prefix: String,
    pub modified_after_ms: Option<u64>,
    pub modified_before_ms: Option<u64>,
    pub older_than_ms: Option<u64>,
    pub newer_than_ms: Option<u64>,
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
    pub tags: Vec<(String, String)>,
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    pub prefix: String,
}

/// What a job does with each object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Work {
    Transform { transform: String, params: Vec<(String, String)>, target: Location },
    Expire,
    Tag(Vec<(String, String)>),
    Replicate,
}

/// What a source object looks like to the filters.
pub struct Candidate<'a> {
    pub size: u64,
    pub modified_ms: u64,
    pub content_type: Option<&'a str>,
    pub tags: &'a [(String, String)],
}

impl Source {
    /// Whether a run that started at `now_ms` takes the object.
    pub fn takes(&self, object: &Candidate, now_ms: u64) -> bool {
        let age = now_ms.saturating_sub(object.modified_ms);
        self.modified_after_ms.is_none_or(|after| object.modified_ms >= after)
            && self.modified_before_ms.is_none_or(|before| object.modified_ms < before)
            && self.older_than_ms.is_none_or(|older| age >= older)
            && self.newer_than_ms.is_none_or(|newer| age < newer)
            && self.min_size.is_none_or(|min| object.size >= min)
            && self.max_size.is_none_or(|max| object.size <= max)
            && self.tags.iter().all(|wanted| object.tags.contains(wanted))
            && self.content_type.as_deref().is_none_or(|wanted| object.content_type.is_some_and(|kind| kind.starts_with(wanted)))
    }
}

pub fn parse(text: &str) -> Result<JobSpec, SpecError> {
    let raw: RawSpec = serde_yaml::from_str(text).map_err(|why| {
        // serde_yaml names the path of the field ("source.bucket: …") when it knows it.
        let message = why.to_string();
        let field = message.split_once(": ").map(|(path, _)| path).filter(|path| !path.contains(' ')).unwrap_or("spec");
        error(field, message.clone())
    })?;
    if raw.name.trim().is_empty() || raw.name.chars().count() > MAX_NAME_CHARS {
        return Err(error("name", format!("a name has 1 to {MAX_NAME_CHARS} characters")));
    }
    let schedule = raw.schedule.unwrap_or_else(|| "@once".to_owned());
    Schedule::parse(&schedule).map_err(|why| error("schedule", why))?;
    let source = source(raw.source)?;
    let work = match (raw.transform, raw.action.as_deref()) {
        (Some(_), Some(_)) => return Err(error("action", "give a transform or an action, not both")),
        (None, None) => return Err(error("transform", "give a transform (or an action: expire, tag, replicate)")),
        (Some(transform), None) => {
            if transform.trim().is_empty() {
                return Err(error("transform", "a built-in name (to-markdown, guardrail) or a path to a .wasm component"));
            }
            let target = raw.target.ok_or_else(|| error("target", "a transform writes to a target: {bucket: B, prefix: P}"))?;
            check_bucket("target.bucket", &target.bucket)?;
            if target.bucket == source.bucket && (target.prefix.starts_with(&source.prefix) || source.prefix.starts_with(&target.prefix)) {
                return Err(error("target", "overlaps the source: the job would take its own outputs as inputs"));
            }
            Work::Transform {
                transform,
                params: raw.params.into_iter().collect(),
                target: Location { bucket: target.bucket, prefix: target.prefix },
            }
        }
        (None, Some(action)) => {
            let work = match action {
                "expire" => Work::Expire,
                "replicate" => Work::Replicate,
                "tag" if raw.tags.is_empty() => return Err(error("tags", "the tag action needs tags: {key: value}")),
                "tag" => Work::Tag(raw.tags.clone().into_iter().collect()),
                other => return Err(error("action", format!("{other:?} is not one of expire, tag, replicate"))),
            };
            if raw.target.is_some() {
                return Err(error("target", format!("the {action} action writes nothing: no target")));
            }
            if !raw.params.is_empty() {
                return Err(error("params", "params are for transforms"));
            }
            work
        }
    };
    if !raw.tags.is_empty() && !matches!(work, Work::Tag(_)) {
        return Err(error("tags", "tags are for the tag action (filter on tags with source.tags)"));
    }
    let limits = raw.limits.unwrap_or(RawLimits { fuel: None, memory_mib: None });
    let fuel = match limits.fuel {
        Some(0) => return Err(error("limits.fuel", "must be positive")),
        fuel => fuel.unwrap_or(DEFAULT_FUEL),
    };
    let memory_mib = match limits.memory_mib {
        Some(mib) if mib == 0 || mib > MAX_MEMORY_MIB => return Err(error("limits.memory-mib", format!("1 to {MAX_MEMORY_MIB}"))),
        mib => mib.unwrap_or(DEFAULT_MEMORY_MIB),
    };
    let quarantine = match raw.quarantine {
        Some(location) => {
            check_bucket("quarantine.bucket", &location.bucket)?;
            Some(Location { bucket: location.bucket, prefix: location.prefix })
        }
        None => None,
    };
    Ok(JobSpec { name: raw.name, schedule, source, work, fuel, memory_bytes: memory_mib << 20, quarantine })
}

/// Only what no bucket can be; the object layer applies S3's naming rules when the job runs
/// (and records a missing bucket as the job's failure).
fn check_bucket(field: &str, bucket: &str) -> Result<(), SpecError> {
    if bucket.is_empty() || bucket.len() > 63 || bucket.contains('/') {
        return Err(error(field, "a bucket name has 1 to 63 characters and no /"));
    }
    Ok(())
}

fn source(raw: RawSource) -> Result<Source, SpecError> {
    check_bucket("source.bucket", &raw.bucket)?;
    let time = |field: &str, text: Option<String>| text.map(|text| parse_time(&text).map_err(|why| error(field, why))).transpose();
    let duration =
        |field: &str, text: Option<String>| text.map(|text| parse_duration_ms(&text).map_err(|why| error(field, why))).transpose();
    if let (Some(min), Some(max)) = (raw.min_size, raw.max_size)
        && min > max
    {
        return Err(error("source.min-size", "is larger than max-size"));
    }
    Ok(Source {
        bucket: raw.bucket,
        prefix: raw.prefix,
        modified_after_ms: time("source.modified-after", raw.modified_after)?,
        modified_before_ms: time("source.modified-before", raw.modified_before)?,
        older_than_ms: duration("source.older-than", raw.older_than)?,
        newer_than_ms: duration("source.newer-than", raw.newer_than)?,
        min_size: raw.min_size,
        max_size: raw.max_size,
        tags: raw.tags.into_iter().collect(),
        content_type: raw.content_type,
    })
}

/// `30s`, `10m`, `12h`, `7d` in milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 30s, 10m, 12h or 7d"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?} is not a duration like 30s, 10m, 12h or 7d")),
    };
    number.checked_mul(unit_ms).filter(|ms| *ms > 0).ok_or_else(|| format!("{text:?} is out of range"))
}

/// An RFC 3339 time in UTC (`2026-01-01T00:00:00Z`, or a plain date) in ms since the epoch.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a time like 2026-01-01T00:00:00Z");
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, time.strip_suffix('Z').ok_or_else(bad)?),
        None => (text, "00:00:00"),
    };
    let numbers = |part: &str, separator: char| -> Result<Vec<u64>, String> {
        part.split(separator).map(|field| field.parse::<u64>().map_err(|_| bad())).collect()
    };
    let (date, time) = (numbers(date, '-')?, numbers(time.split('.').next().unwrap_or(time), ':')?);
    let ([year, month, day], [hour, minute, second]) = (date.as_slice(), time.as_slice()) else { return Err(bad()) };
    if !(1970..=9999).contains(year) || !(1..=12).contains(month) || !(1..=31).contains(day) || *hour > 23 || *minute > 59 || *second > 60 {
        return Err(bad());
    }
    let days = crate::schedule::days_from_civil(*year as i64, *month as u32, *day as u32);
    Ok(((days as u64) * 86_400 + hour * 3_600 + minute * 60 + second) * 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS_MD: &str = "
name: docs-md
schedule: \"@once\"
source: {bucket: raw, prefix: docs/, modified-after: 2026-01-01T00:00:00Z}
transform: to-markdown
target: {bucket: md, prefix: docs/}
";

    #[test]
    fn the_issue_example_parses() {
        let spec = parse(DOCS_MD).unwrap();
        assert_eq!(spec.name, "docs-md");
        assert_eq!(spec.source.prefix, "docs/");
        assert_eq!(spec.source.modified_after_ms, Some(1_767_225_600_000));
        assert!(matches!(&spec.work, Work::Transform { transform, target, .. } if transform == "to-markdown" && target.bucket == "md"));
        assert_eq!(spec.fuel, DEFAULT_FUEL);
    }

    #[test]
    fn mistakes_name_their_field() {
        let field = |text: &str| parse(text).unwrap_err().field;
        assert_eq!(field(&DOCS_MD.replace("bucket: raw", "bukket: raw")), "source");
        assert_eq!(field(&DOCS_MD.replace("2026-01-01T00:00:00Z", "yesterday")), "source.modified-after");
        assert_eq!(field(&DOCS_MD.replace("@once", "*/61 * * * *")), "schedule");
        assert_eq!(field(&DOCS_MD.replace("target: {bucket: md, prefix: docs/}", "")), "target");
        assert_eq!(field(&DOCS_MD.replace("transform: to-markdown", "action: shred")), "action");
        assert_eq!(field("name: x\nsource: {bucket: raw}\naction: tag\n"), "tags");
        assert_eq!(field(&DOCS_MD.replace("bucket: md", "bucket: raw")), "target");
        assert_eq!(field(&format!("{DOCS_MD}limits: {{memory-mib: 0}}\n")), "limits.memory-mib");
        assert!(parse(&DOCS_MD.replace("bucket: raw", "bukket: raw")).unwrap_err().message.contains("bukket"));
    }

    #[test]
    fn filters() {
        let spec =
            parse("name: x\nsource: {bucket: raw, older-than: 1d, max-size: 10, content-type: text/, tags: {a: b}}\naction: expire\n")
                .unwrap();
        let tags = [("a".to_owned(), "b".to_owned())];
        let day = 86_400_000;
        let object = |size, modified_ms, content_type, tags| Candidate { size, modified_ms, content_type, tags };
        assert!(spec.source.takes(&object(5, 0, Some("text/html"), &tags), 2 * day));
        assert!(!spec.source.takes(&object(5, day + 1, Some("text/html"), &tags), 2 * day));
        assert!(!spec.source.takes(&object(11, 0, Some("text/html"), &tags), 2 * day));
        assert!(!spec.source.takes(&object(5, 0, Some("image/png"), &tags), 2 * day));
        assert!(!spec.source.takes(&object(5, 0, Some("text/html"), &[]), 2 * day));
    }

    #[test]
    fn durations_and_times() {
        assert_eq!(parse_duration_ms("10m"), Ok(600_000));
        assert!(parse_duration_ms("10 parsecs").is_err());
        assert_eq!(parse_time("1970-01-02"), Ok(86_400_000));
        assert!(parse_time("2026-13-01T00:00:00Z").is_err());
    }
}
