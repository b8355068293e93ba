//! Site replication: every bucket of this site is mirrored to every peer site, both ways. Each
//! site makes sure that it replicates each of its buckets to each peer (a target and a rule in
//! the bucket's replication document); with `propagate`, it also creates the bucket on the
//! peer and gives it this site's versioning. Those requests carry `x-tessera-site`, so the peer
//! sets up its own replication back but does not propagate them again.

use replication_config::{Peer, ReplicationDocument, Rule, SITE_DOCUMENT, SITE_HEADER, SiteDocument, Target};
use secret_box::SecretBox;
use wasip2::http::types::Method;

use crate::bindings::tessera::node::objects::{self, ObjectError, VersioningState};
use crate::http::{Endpoint, RequestError};

pub fn sync_bucket(bucket: &str, propagate: bool, secrets: &SecretBox) -> Result<Vec<String>, ObjectError> {
    let Some(site) = site_document()? else { return Ok(Vec::new()) };
    let versioning = objects::get_bucket_versioning(bucket)?;
    let mut problems = Vec::new();
    for peer in &site.peers {
        if propagate && let Err(error) = mirror_bucket(bucket, versioning, peer, secrets) {
            problems.push(format!("mirroring {bucket} to {}: {error}", peer.endpoint));
        }
        replicate_to(bucket, peer)?;
    }
    Ok(problems)
}

fn site_document() -> Result<Option<SiteDocument>, ObjectError> {
    let Some((bytes, _)) = objects::get_node_config(SITE_DOCUMENT)? else { return Ok(None) };
    serde_json::from_slice(&bytes).map(Some).map_err(|error| ObjectError::Internal(format!("the site document does not parse: {error}")))
}

/// Creates the bucket on the peer (if it is not there) and gives it this site's versioning.
fn mirror_bucket(bucket: &str, versioning: VersioningState, peer: &Peer, secrets: &SecretBox) -> Result<(), RequestError> {
    let secret_key = secrets
        .open(&peer.access_key, &peer.sealed_secret_key)
        .ok_or_else(|| RequestError::BadEndpoint("the peer's secret key does not open (were the root credentials changed?)".into()))?;
    let endpoint = Endpoint::new(&peer.endpoint, &peer.region, &peer.access_key, &secret_key)?;
    let site = [(SITE_HEADER.to_owned(), "1".to_owned())];
    match endpoint.send(Method::Put, bucket, "", &[], &site, None) {
        Ok(_) => {}
        Err(RequestError::Refused { code, .. }) if code == "BucketAlreadyOwnedByYou" => {}
        Err(error) => return Err(error),
    }
    let status = match versioning {
        VersioningState::Unversioned => return Ok(()),
        VersioningState::Enabled => "Enabled",
        VersioningState::Suspended => "Suspended",
    };
    let document = format!(
        "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{status}</Status></VersioningConfiguration>"
    );
    let mut headers = site.to_vec();
    headers.push(("content-length".into(), document.len().to_string()));
    headers.push(("content-type".into(), "application/xml".into()));
    let mut body = Some(document.into_bytes());
    let mut next = || Ok(body.take());
    endpoint.send(Method::Put, bucket, "", &[("versioning", "")], &headers, Some(&mut next)).map(drop)
}

/// Makes sure the bucket's replication document has a target and a rule for the peer.
fn replicate_to(bucket: &str, peer: &Peer) -> Result<(), ObjectError> {
    let mut document: ReplicationDocument = match objects::get_bucket_config(bucket, replication_config::DOCUMENT)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|error| ObjectError::Internal(format!("the replication document of {bucket} does not parse: {error}")))?,
        None => ReplicationDocument::default(),
    };
    if document.targets.iter().any(|target| target.endpoint == peer.endpoint && target.bucket == bucket) {
        return Ok(());
    }
    let id: String = wasip2::random::random::get_random_bytes(8).iter().map(|byte| format!("{byte:02x}")).collect();
    document.targets.push(Target {
        id: id.clone(),
        endpoint: peer.endpoint.clone(),
        bucket: bucket.to_owned(),
        region: peer.region.clone(),
        access_key: peer.access_key.clone(),
        // Sealed under this site's root key with the access key as associated data, as a
        // target's secret is: it opens the same way.
        sealed_secret_key: peer.sealed_secret_key.clone(),
        sync: false,
    });
    document.rules.push(Rule {
        id: format!("site-{id}"),
        enabled: true,
        priority: 0,
        prefix: String::new(),
        tags: Vec::new(),
        delete_markers: true,
        target: id,
    });
    let bytes = serde_json::to_vec(&document).map_err(|error| ObjectError::Internal(error.to_string()))?;
    objects::set_bucket_config(bucket, replication_config::DOCUMENT, Some(&bytes))
}
