//! A minimal S3 client: SigV4-signed requests over a pooled HTTP/1 client, for the load
//! generator and `tessera admin`.

pub use sigv4;

use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

use sigv4::{EMPTY_SHA256, Signable, Signer, UNSIGNED_PAYLOAD, uri_encode};

type Body = BoxBody<Bytes, std::convert::Infallible>;

pub struct S3Client {
    http: Client<HttpConnector, Body>,
    endpoint: hyper::Uri,
    host: String,
    signer: Signer,
}

/// What one request moved and how it ended.
pub struct Outcome {
    pub status: StatusCode,
    pub bytes: u64,
}

impl S3Client {
    pub fn new(endpoint: &str, signer: Signer, max_connections: usize) -> Result<Self> {
        let endpoint: hyper::Uri = endpoint.parse().with_context(|| format!("endpoint {endpoint}"))?;
        if endpoint.scheme_str() != Some("http") {
            bail!("only plain http:// endpoints are supported");
        }
        let host = endpoint.authority().context("endpoint has no host")?.to_string();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(max_connections).build(connector);
        Ok(Self { http, endpoint, host, signer })
    }

    /// An unsigned GET of `path`, for probes that must not depend on credentials.
    pub async fn get_unsigned(&self, path: &str) -> Result<Outcome> {
        let uri = format!("{}{}", self.endpoint.to_string().trim_end_matches('/'), path);
        let request = Request::builder().method(Method::GET).uri(uri).body(Empty::new().boxed())?;
        let response = self.http.request(request).await?;
        let status = response.status();
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame?;
        }
        Ok(Outcome { status, bytes: 0 })
    }

    /// Sends one signed request (its body, if any, signed by hash) and returns the status and
    /// the whole response body.
    pub async fn fetch(&self, method: Method, path: &str, query: &[(&str, &str)], body: Option<Bytes>) -> Result<(StatusCode, Bytes)> {
        let payload_sha256 = match &body {
            Some(bytes) => sigv4::hex(&<sha2::Sha256 as sha2::Digest>::digest(bytes)),
            None => EMPTY_SHA256.to_owned(),
        };
        let request = self.signed_request(method, path, query, body, &payload_sha256)?;
        let response = self.http.request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// A request signed with SigV4 for `path?query`, with `payload_sha256` as its payload hash.
    fn signed_request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Bytes>,
        payload_sha256: &str,
    ) -> Result<Request<Body>> {
        let signature = self
            .signer
            .sign(&Signable { method: method.as_str(), path, query, host: &self.host, payload_sha256, headers: &[] }, SystemTime::now());
        let query_string =
            query.iter().map(|(k, v)| format!("{}={}", uri_encode(k, true), uri_encode(v, true))).collect::<Vec<_>>().join("&");
        let uri = format!(
            "{}{}{}{}",
            self.endpoint.to_string().trim_end_matches('/'),
            path,
            if query.is_empty() { "" } else { "?" },
            query_string
        );
        let length = body.as_ref().map_or(0, Bytes::len);
        let body: Body = match body {
            Some(bytes) => Full::new(bytes).boxed(),
            None => Empty::new().boxed(),
        };
        Ok(Request::builder()
            .method(method)
            .uri(uri)
            .header("x-amz-date", signature.amz_date)
            .header("x-amz-content-sha256", payload_sha256)
            .header("authorization", signature.authorization)
            .header("content-length", length)
            .body(body)?)
    }

    /// Sends one request and drains the response body, counting its bytes.
    pub async fn send(&self, method: Method, bucket: &str, key: &str, query: &[(&str, &str)], body: Option<Bytes>) -> Result<Outcome> {
        let path = if key.is_empty() { format!("/{bucket}") } else { format!("/{bucket}/{}", uri_encode(key, false)) };
        let payload_sha256 = if body.is_some() { UNSIGNED_PAYLOAD } else { EMPTY_SHA256 };
        let sent_bytes = body.as_ref().map_or(0, |body| body.len() as u64);
        let request = self.signed_request(method.clone(), &path, query, body, payload_sha256)?;
        let response = self.http.request(request).await?;
        let status = response.status();
        let mut body = response.into_body();
        let mut received_bytes = 0u64;
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame?.data_ref() {
                received_bytes += data.len() as u64;
            }
        }
        Ok(Outcome { status, bytes: if method == Method::GET { received_bytes } else { sent_bytes } })
    }
}
