//! One request against the policies that apply to it: an explicit Deny anywhere wins; else an
//! Allow anywhere grants; else the request is denied (default deny).

use std::net::IpAddr;

use crate::document::{Condition, Effect, Operator, Policy, Principal, Statement};
use crate::glob;
use crate::ip::Block;

/// What is being asked, by whom.
pub struct RequestContext<'a> {
    /// `s3:GetObject`, `admin:Heal`, …
    pub action: &'a str,
    /// `arn:aws:s3:::bucket/key`, `arn:aws:s3:::bucket`, or `arn:aws:s3:::*` for the service.
    pub resource: &'a str,
    /// The access key that signed the request; none for an anonymous one.
    pub principal: Option<&'a str>,
    /// Condition keys (lower case) the request carries, with their values.
    pub values: &'a [(&'a str, String)],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A Deny statement matched (its Sid, when it has one).
    ExplicitDeny(Option<String>),
    /// Nothing allowed it.
    ImplicitDeny,
}

pub fn evaluate<'p>(policies: impl IntoIterator<Item = &'p Policy>, request: &RequestContext) -> Decision {
    let mut allowed = false;
    for statement in policies.into_iter().flat_map(|policy| &policy.statements) {
        if !applies(statement, request) {
            continue;
        }
        match statement.effect {
            Effect::Deny => return Decision::ExplicitDeny(statement.sid.clone()),
            Effect::Allow => allowed = true,
        }
    }
    if allowed { Decision::Allow } else { Decision::ImplicitDeny }
}

fn applies(statement: &Statement, request: &RequestContext) -> bool {
    let principal_matches = match &statement.principal {
        None | Some(Principal::Anyone) => true,
        Some(Principal::Users(users)) => request.principal.is_some_and(|access_key| users.iter().any(|user| user == access_key)),
    };
    // Admin actions are about the node, not a bucket: their resource is not matched, and only
    // a pattern that names them (`admin:…`) allows them — `"Action": "*"` on a bucket must not
    // make anyone an administrator. A Deny of `*` still denies them.
    let is_admin = is_admin_action(request.action);
    let action_matches = statement.actions.iter().any(|pattern| {
        glob::matches(pattern, request.action, true) && (!is_admin || statement.effect == Effect::Deny || is_admin_action(pattern))
    });
    let resource_matches =
        is_admin || statement.resources.iter().any(|pattern| pattern == "*" || glob::matches(pattern, request.resource, false));
    principal_matches && action_matches && resource_matches && statement.conditions.iter().all(|condition| holds(condition, request))
}

fn is_admin_action(action: &str) -> bool {
    action.get(..6).is_some_and(|prefix| prefix.eq_ignore_ascii_case("admin:"))
}

fn holds(condition: &Condition, request: &RequestContext) -> bool {
    let Some(value) = request.values.iter().find(|(key, _)| *key == condition.key).map(|(_, value)| value) else {
        return condition.operator.is_negated();
    };
    let any = |test: &dyn Fn(&str) -> bool| condition.values.iter().any(|expected| test(expected));
    let in_blocks = || value.parse::<IpAddr>().is_ok_and(|address| any(&|block| Block::parse(block).is_some_and(|b| b.contains(address))));
    match condition.operator {
        Operator::StringEquals => any(&|expected| expected == value),
        Operator::StringNotEquals => !any(&|expected| expected == value),
        Operator::StringLike => any(&|pattern| glob::matches(pattern, value, false)),
        Operator::StringNotLike => !any(&|pattern| glob::matches(pattern, value, false)),
        Operator::IpAddress => in_blocks(),
        Operator::NotIpAddress => !in_blocks(),
        Operator::Bool => any(&|expected| expected.eq_ignore_ascii_case(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{Kind, parse};

    fn request<'a>(action: &'a str, resource: &'a str, principal: Option<&'a str>, values: &'a [(&'a str, String)]) -> RequestContext<'a> {
        RequestContext { action, resource, principal, values }
    }

    #[test]
    fn deny_wins_allow_grants_and_silence_denies() {
        let policy = parse(
            br#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::data/*"},
                {"Sid":"NoSecrets","Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/secret/*"}]}"#,
            &Kind::Identity,
        )
        .unwrap();
        let ask = |action, resource| evaluate([&policy], &request(action, resource, Some("ann"), &[]));
        assert_eq!(ask("s3:GetObject", "arn:aws:s3:::data/report.csv"), Decision::Allow);
        assert_eq!(ask("s3:getobject", "arn:aws:s3:::data/secret/key"), Decision::ExplicitDeny(Some("NoSecrets".into())));
        assert_eq!(ask("s3:GetObject", "arn:aws:s3:::other/report.csv"), Decision::ImplicitDeny);
        assert_eq!(ask("s3:ListBucket", "arn:aws:s3:::data"), Decision::ImplicitDeny);
    }

    #[test]
    fn bucket_policy_principals() {
        let policy = parse(
            br#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"},
                {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123:user/bob"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::pub/*"}]}"#,
            &Kind::Bucket("pub".into()),
        )
        .unwrap();
        assert_eq!(evaluate([&policy], &request("s3:GetObject", "arn:aws:s3:::pub/a", None, &[])), Decision::Allow);
        assert_eq!(evaluate([&policy], &request("s3:PutObject", "arn:aws:s3:::pub/a", None, &[])), Decision::ImplicitDeny);
        assert_eq!(evaluate([&policy], &request("s3:PutObject", "arn:aws:s3:::pub/a", Some("bob"), &[])), Decision::Allow);
        assert_eq!(evaluate([&policy], &request("s3:PutObject", "arn:aws:s3:::pub/a", Some("eve"), &[])), Decision::ImplicitDeny);
    }

    #[test]
    fn conditions_on_prefix_address_and_transport() {
        let policy = parse(
            br#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":["home/ann/*"]}}},
                {"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},
                {"Effect":"Deny","Action":"s3:PutObject","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
            &Kind::Identity,
        )
        .unwrap();
        let inside = [("s3:prefix", "home/ann/docs".to_owned()), ("aws:sourceip", "10.1.2.3".to_owned())];
        assert_eq!(evaluate([&policy], &request("s3:ListBucket", "arn:aws:s3:::b", Some("ann"), &inside)), Decision::Allow);
        let other_prefix = [("s3:prefix", "home/bob/".to_owned()), ("aws:sourceip", "10.1.2.3".to_owned())];
        assert_eq!(evaluate([&policy], &request("s3:ListBucket", "arn:aws:s3:::b", Some("ann"), &other_prefix)), Decision::ImplicitDeny);
        let outside = [("s3:prefix", "home/ann/docs".to_owned()), ("aws:sourceip", "192.168.1.1".to_owned())];
        assert!(matches!(
            evaluate([&policy], &request("s3:ListBucket", "arn:aws:s3:::b", Some("ann"), &outside)),
            Decision::ExplicitDeny(_)
        ));
        // No address known: a negated operator holds, so the Deny applies (fail closed).
        let unknown = [("s3:prefix", "home/ann/docs".to_owned())];
        assert!(matches!(
            evaluate([&policy], &request("s3:ListBucket", "arn:aws:s3:::b", Some("ann"), &unknown)),
            Decision::ExplicitDeny(_)
        ));
        let plain_http = [("aws:sourceip", "10.0.0.1".to_owned()), ("aws:securetransport", "false".to_owned())];
        assert!(matches!(
            evaluate([&policy], &request("s3:PutObject", "arn:aws:s3:::b/k", Some("ann"), &plain_http)),
            Decision::ExplicitDeny(_)
        ));
    }

    #[test]
    fn only_admin_patterns_grant_admin_actions() {
        for actions in [r#""*""#, r#""s3:*""#, r#"["*", "s3:GetObject"]"#] {
            let json = format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"*"}}]}}"#);
            let policy = parse(json.as_bytes(), &Kind::Identity).unwrap();
            assert_eq!(evaluate([&policy], &request("admin:CreateUser", "", Some("u"), &[])), Decision::ImplicitDeny, "{actions}");
        }
        let deny_all =
            parse(br#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#, &Kind::Identity).unwrap();
        let admin = crate::canned::policy("consoleAdmin").unwrap();
        assert_eq!(evaluate([&admin], &request("admin:CreateUser", "", Some("u"), &[])), Decision::Allow);
        assert!(matches!(evaluate([&admin, &deny_all], &request("admin:CreateUser", "", Some("u"), &[])), Decision::ExplicitDeny(_)));
    }

    #[test]
    fn admin_actions_ignore_resources() {
        let policy = parse(
            br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"admin:Heal","Resource":"arn:aws:s3:::*"}]}"#,
            &Kind::Identity,
        )
        .unwrap();
        assert_eq!(evaluate([&policy], &request("admin:Heal", "", Some("ops"), &[])), Decision::Allow);
        assert_eq!(evaluate([&policy], &request("admin:CreateUser", "", Some("ops"), &[])), Decision::ImplicitDeny);
    }
}
