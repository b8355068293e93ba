//! Policy documents: parsed and validated once (when stored), so that evaluation never meets a
//! malformed one. Errors name the statement and field at fault, as S3's MalformedPolicy does.

use serde_json::Value;

use crate::ip::Block;

/// Where a policy is attached, which decides what it must and must not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Attached to users: no `Principal`.
    Identity,
    /// A bucket policy: every statement names its `Principal`, and its resources are in the bucket.
    Bucket(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl std::fmt::Display for PolicyError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Whom a bucket policy statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `"*"`: anyone, signed or not.
    Anyone,
    /// Access keys (`"ann"` or `"arn:aws:iam::…:user/ann"`).
    Users(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringLike,
    StringNotLike,
    IpAddress,
    NotIpAddress,
    Bool,
}

impl Operator {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "StringEquals" => Self::StringEquals,
            "StringNotEquals" => Self::StringNotEquals,
            "StringLike" => Self::StringLike,
            "StringNotLike" => Self::StringNotLike,
            "IpAddress" => Self::IpAddress,
            "NotIpAddress" => Self::NotIpAddress,
            "Bool" => Self::Bool,
            _ => return None,
        })
    }

    /// Negated operators hold when the request lacks the key (as in IAM).
    pub fn is_negated(self) -> bool {
        matches!(self, Self::StringNotEquals | Self::StringNotLike | Self::NotIpAddress)
    }
}

/// The condition keys requests carry here (lower case; IAM compares them without case).
pub const CONDITION_KEYS: [&str; 4] = ["aws:sourceip", "aws:securetransport", "s3:prefix", "s3:delimiter"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: Operator,
    /// Lower case.
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<Principal>,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

const RESOURCE_PREFIX: &str = "arn:aws:s3:::";

fn error(message: impl Into<String>) -> PolicyError {
    PolicyError(message.into())
}

/// A string or a list of strings (IAM accepts both wherever a list is meant).
fn strings(value: &Value, field: &str) -> Result<Vec<String>, PolicyError> {
    let items = match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(|| error(format!("{field} must hold strings"))))
            .collect::<Result<_, _>>()?,
        Value::Bool(flag) => vec![flag.to_string()],
        _ => return Err(error(format!("{field} must be a string or a list of strings"))),
    };
    if items.is_empty() {
        return Err(error(format!("{field} is empty")));
    }
    Ok(items)
}

/// Parses and validates a policy document.
pub fn parse(json: &[u8], kind: &Kind) -> Result<Policy, PolicyError> {
    let document: Value = serde_json::from_slice(json).map_err(|why| error(format!("the policy is not valid JSON: {why}")))?;
    let Value::Object(fields) = &document else { return Err(error("the policy must be a JSON object")) };
    if let Some(unknown) = fields.keys().find(|name| !["Version", "Statement", "Id"].contains(&name.as_str())) {
        return Err(error(format!("unknown field {unknown}")));
    }
    match fields.get("Version").and_then(Value::as_str) {
        Some("2012-10-17" | "2008-10-17") => {}
        Some(other) => return Err(error(format!("Version {other} is not supported (use 2012-10-17)"))),
        None => return Err(error("missing Version")),
    }
    let statements = match fields.get("Statement") {
        Some(Value::Array(statements)) => statements.iter().collect::<Vec<_>>(),
        Some(statement @ Value::Object(_)) => vec![statement],
        Some(_) => return Err(error("Statement must be an object or a list of objects")),
        None => return Err(error("missing Statement")),
    };
    if statements.is_empty() {
        return Err(error("Statement is empty"));
    }
    let statements = statements
        .into_iter()
        .enumerate()
        .map(|(index, statement)| {
            parse_statement(statement, kind).map_err(|PolicyError(why)| error(format!("Statement {}: {why}", index + 1)))
        })
        .collect::<Result<_, _>>()?;
    Ok(Policy { statements })
}

fn parse_statement(value: &Value, kind: &Kind) -> Result<Statement, PolicyError> {
    let Value::Object(fields) = value else { return Err(error("a statement must be an object")) };
    for name in fields.keys() {
        match name.as_str() {
            "Sid" | "Effect" | "Principal" | "Action" | "Resource" | "Condition" => {}
            "NotAction" | "NotResource" | "NotPrincipal" => return Err(error(format!("{name} is not supported"))),
            other => return Err(error(format!("unknown field {other}"))),
        }
    }
    let sid = fields.get("Sid").and_then(Value::as_str).map(str::to_owned);
    let effect = match fields.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        Some(other) => return Err(error(format!("Effect {other} is neither Allow nor Deny"))),
        None => return Err(error("missing Effect")),
    };
    let actions = strings(fields.get("Action").ok_or_else(|| error("missing Action"))?, "Action")?;
    if let Some(bad) = actions.iter().find(|action| {
        let lower = action.to_ascii_lowercase();
        !(lower == "*" || lower.starts_with("s3:") || lower.starts_with("admin:"))
    }) {
        return Err(error(format!("Action {bad} is not an s3: or admin: action")));
    }
    let resources = strings(fields.get("Resource").ok_or_else(|| error("missing Resource"))?, "Resource")?;
    for resource in &resources {
        let valid = match kind {
            Kind::Identity => resource == "*" || resource.starts_with(RESOURCE_PREFIX),
            Kind::Bucket(bucket) => {
                resource.strip_prefix(RESOURCE_PREFIX).is_some_and(|rest| rest == bucket || rest.starts_with(&format!("{bucket}/")))
            }
        };
        if !valid {
            return Err(error(format!("Resource {resource} is not valid here (arn:aws:s3:::bucket or arn:aws:s3:::bucket/key)")));
        }
    }
    let principal = match (kind, fields.get("Principal")) {
        (Kind::Identity, Some(_)) => return Err(error("Principal is only for bucket policies")),
        (Kind::Identity, None) => None,
        (Kind::Bucket(_), None) => return Err(error("missing Principal")),
        (Kind::Bucket(_), Some(value)) => Some(parse_principal(value)?),
    };
    let conditions = match fields.get("Condition") {
        None => Vec::new(),
        Some(value) => parse_conditions(value)?,
    };
    Ok(Statement { sid, effect, principal, actions, resources, conditions })
}

fn parse_principal(value: &Value) -> Result<Principal, PolicyError> {
    let names = match value {
        Value::String(star) if star == "*" => return Ok(Principal::Anyone),
        Value::Object(fields) => {
            if let Some(other) = fields.keys().find(|name| *name != "AWS") {
                return Err(error(format!("Principal {other} is not supported (use AWS)")));
            }
            strings(fields.get("AWS").ok_or_else(|| error("Principal needs AWS"))?, "Principal.AWS")?
        }
        _ => return Err(error("Principal must be \"*\" or {\"AWS\": …}")),
    };
    if names.iter().any(|name| name == "*") {
        return Ok(Principal::Anyone);
    }
    let users = names.into_iter().map(|name| match name.rsplit_once(":user/") {
        Some((_, user)) => user.to_owned(),
        None => name,
    });
    Ok(Principal::Users(users.collect()))
}

fn parse_conditions(value: &Value) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(operators) = value else { return Err(error("Condition must be an object")) };
    let mut conditions = Vec::new();
    for (operator_name, keys) in operators {
        let operator =
            Operator::parse(operator_name).ok_or_else(|| error(format!("Condition operator {operator_name} is not supported")))?;
        let Value::Object(keys) = keys else { return Err(error(format!("Condition {operator_name} must be an object"))) };
        for (key, values) in keys {
            let lower = key.to_ascii_lowercase();
            if !CONDITION_KEYS.contains(&lower.as_str()) {
                return Err(error(format!(
                    "Condition key {key} is not supported (aws:SourceIp, aws:SecureTransport, s3:prefix, s3:delimiter)"
                )));
            }
            let values = strings(values, &format!("Condition {operator_name} {key}"))?;
            if matches!(operator, Operator::IpAddress | Operator::NotIpAddress)
                && let Some(bad) = values.iter().find(|value| Block::parse(value).is_none())
            {
                return Err(error(format!("Condition {operator_name} {key}: {bad} is not an address or CIDR block")));
            }
            conditions.push(Condition { operator, key: lower, values });
        }
    }
    Ok(conditions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket() -> Kind {
        Kind::Bucket("photos".into())
    }

    #[test]
    fn a_public_read_bucket_policy_parses() {
        let policy = parse(
            br#"{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":{"AWS":["*"]},
                "Action":["s3:GetObject"],"Resource":["arn:aws:s3:::photos/*"]}]}"#,
            &bucket(),
        )
        .unwrap();
        assert_eq!(policy.statements[0].principal, Some(Principal::Anyone));
        assert_eq!(policy.statements[0].sid.as_deref(), Some("PublicRead"));
    }

    #[test]
    fn errors_name_the_field() {
        let cases: [(&[u8], Kind, &str); 9] = [
            (b"{", Kind::Identity, "not valid JSON"),
            (br#"{"Statement":[]}"#, Kind::Identity, "missing Version"),
            (br#"{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"s3:*","Resource":"*"}]}"#, Kind::Identity, "Statement 1: Effect Maybe"),
            (br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#, Kind::Identity, "Action ec2:*"),
            (br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#, Kind::Identity, "missing Resource"),
            (br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#, Kind::Identity, "Principal is only"),
            (br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::photos/*"}]}"#, bucket(), "missing Principal"),
            (br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::other/*"}]}"#, bucket(), "Resource arn:aws:s3:::other/*"),
            (br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"nowhere"}}}]}"#, Kind::Identity, "nowhere is not an address"),
        ];
        for (json, kind, expected) in cases {
            let PolicyError(why) = parse(json, &kind).unwrap_err();
            assert!(why.contains(expected), "{why:?} should mention {expected:?}");
        }
    }
}
