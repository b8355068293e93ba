//! `tessera admin user …` and `tessera admin policy …`: the identity endpoints of the admin API
//! (`/_tessera/admin/v1/users`, `…/policies`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use bytes::Bytes;
use hyper::Method;
use serde::Deserialize;
use serde_json::Value;

use crate::admin::call;
use crate::client::S3Client;
use crate::client::sigv4::uri_encode;

const USERS: &str = "/_tessera/admin/v1/users";
const POLICIES: &str = "/_tessera/admin/v1/policies";

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Add a user (enabled, no policy: it may do nothing yet), or give one a new secret.
    // Field names differ from the global --access-key/--secret-key (the root's), which clap
    // would otherwise fill from these positionals.
    Add {
        #[arg(value_name = "ACCESS_KEY")]
        user: String,
        #[arg(value_name = "SECRET_KEY")]
        secret: String,
    },
    /// Remove a user.
    Remove {
        #[arg(value_name = "ACCESS_KEY")]
        user: String,
    },
    /// List the users with their state and policies.
    List,
    /// Let a disabled user sign requests again.
    Enable {
        #[arg(value_name = "ACCESS_KEY")]
        user: String,
    },
    /// Refuse a user's requests (InvalidAccessKeyId) without removing it.
    Disable {
        #[arg(value_name = "ACCESS_KEY")]
        user: String,
    },
}

#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Create or replace a policy from a JSON file.
    Create { name: String, file: PathBuf },
    /// Attach a policy to a user.
    Attach {
        name: String,
        #[arg(long)]
        user: String,
    },
    /// Detach a policy from a user.
    Detach {
        name: String,
        #[arg(long)]
        user: String,
    },
    /// List the policies (canned and created).
    List,
    /// Remove a policy, detaching it from its users.
    Remove { name: String },
}

fn user_path(access_key: &str) -> String {
    format!("{USERS}/{}", uri_encode(access_key, true))
}

fn policy_path(name: &str) -> String {
    format!("{POLICIES}/{}", uri_encode(name, true))
}

#[derive(Deserialize)]
struct UserList {
    users: Vec<UserEntry>,
}

#[derive(Deserialize)]
struct UserEntry {
    access_key: String,
    enabled: bool,
    policies: Vec<String>,
}

#[derive(Deserialize)]
struct PolicyList {
    policies: Vec<PolicyEntry>,
}

#[derive(Deserialize)]
struct PolicyEntry {
    name: String,
    canned: bool,
}

pub async fn run_user(client: &S3Client, command: UserCommand) -> Result<i32> {
    match command {
        UserCommand::Add { user: access_key, secret } => {
            let body = serde_json::to_vec(&serde_json::json!({ "secret_key": secret }))?;
            let answer: Value = call(client, Method::PUT, &user_path(&access_key), &[], Some(Bytes::from(body))).await?;
            let verb = if answer["created"] == Value::Bool(true) { "added" } else { "given a new secret" };
            println!("user {access_key} {verb}");
        }
        UserCommand::Remove { user: access_key } => {
            let _: Value = call(client, Method::DELETE, &user_path(&access_key), &[], None).await?;
            println!("user {access_key} removed");
        }
        UserCommand::Enable { user: access_key } => {
            let _: Value = call(client, Method::POST, &format!("{}/enable", user_path(&access_key)), &[], None).await?;
            println!("user {access_key} enabled");
        }
        UserCommand::Disable { user: access_key } => {
            let _: Value = call(client, Method::POST, &format!("{}/disable", user_path(&access_key)), &[], None).await?;
            println!("user {access_key} disabled");
        }
        UserCommand::List => {
            let list: UserList = call(client, Method::GET, USERS, &[], None).await?;
            if list.users.is_empty() {
                println!("no users");
            }
            for user in list.users {
                let state = if user.enabled { "enabled" } else { "disabled" };
                let policies = if user.policies.is_empty() { "-".to_owned() } else { user.policies.join(",") };
                println!("{:<24} {state:<9} {policies}", user.access_key);
            }
        }
    }
    Ok(0)
}

pub async fn run_policy(client: &S3Client, command: PolicyCommand) -> Result<i32> {
    match command {
        PolicyCommand::Create { name, file } => {
            let document = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let _: Value = call(client, Method::PUT, &policy_path(&name), &[], Some(Bytes::from(document))).await?;
            println!("policy {name} created");
        }
        PolicyCommand::Attach { name, user } => {
            let _: Value = call(client, Method::POST, &format!("{}/attach", policy_path(&name)), &[("user", &user)], None).await?;
            println!("policy {name} attached to {user}");
        }
        PolicyCommand::Detach { name, user } => {
            let _: Value = call(client, Method::POST, &format!("{}/detach", policy_path(&name)), &[("user", &user)], None).await?;
            println!("policy {name} detached from {user}");
        }
        PolicyCommand::Remove { name } => {
            let answer: Value = call(client, Method::DELETE, &policy_path(&name), &[], None).await?;
            let detached: Vec<&str> = answer["detached_from"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            match detached.as_slice() {
                [] => println!("policy {name} removed"),
                users => println!("policy {name} removed (detached from {})", users.join(", ")),
            }
        }
        PolicyCommand::List => {
            let list: PolicyList = call(client, Method::GET, POLICIES, &[], None).await?;
            for policy in list.policies {
                println!("{}{}", policy.name, if policy.canned { " (canned)" } else { "" });
            }
        }
    }
    Ok(0)
}
