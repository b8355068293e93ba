//! S3 requests over `wasi:http/outgoing-handler`: signed with SigV4 (the body is not hashed,
//! `UNSIGNED-PAYLOAD`, so it can stream), path-style addressing, the body written in bounded
//! pieces after the request has started so that memory stays flat whatever the object size.

use std::time::{Duration, SystemTime};

use sigv4::{EMPTY_SHA256, Signable, Signer, UNSIGNED_PAYLOAD, uri_encode};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);
/// What a stream takes per `blocking-write-and-flush` (the WASI limit).
const WRITE_PIECE: usize = 4096;
/// Error bodies are read up to this size (for the message).
const MAX_ERROR_BODY: usize = 16 << 10;

/// Why a request did not get an answer, or got a refusal.
#[derive(Debug)]
pub enum RequestError {
    /// The endpoint URL is not `http(s)://authority`.
    BadEndpoint(String),
    /// No answer: connection refused, timeout, the connection broke.
    Transport(String),
    /// The target answered with an error status.
    Refused { status: u16, code: String, message: String },
    /// The object cannot be sent: reading it failed, or one of its headers is not sendable.
    Source(String),
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadEndpoint(why) => write!(formatter, "bad endpoint: {why}"),
            Self::Transport(why) => write!(formatter, "no answer: {why}"),
            Self::Refused { status, code, message } => write!(formatter, "{status} {code}: {message}"),
            Self::Source(why) => write!(formatter, "the source object: {why}"),
        }
    }
}

/// An S3 endpoint and the credentials to sign with.
pub struct Endpoint {
    scheme: Scheme,
    authority: String,
    signer: Signer,
}

impl Endpoint {
    pub fn new(url: &str, region: &str, access_key: &str, secret_key: &str) -> Result<Self, RequestError> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else {
            return Err(RequestError::BadEndpoint(format!("{url} is not http:// or https://")));
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(RequestError::BadEndpoint(format!("{url} has a path; give only scheme, host and port")));
        }
        let signer = Signer { access_key: access_key.to_owned(), secret_key: secret_key.to_owned(), region: region.to_owned() };
        Ok(Self { scheme, authority: authority.to_owned(), signer })
    }

    /// Sends one request to `bucket` (`key` empty: the bucket itself) with `query`; `body`
    /// yields the next piece of the body (none at its end).
    pub fn send(
        &self,
        method: Method,
        bucket: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(String, String)],
        body: Option<&mut dyn FnMut() -> Result<Option<Vec<u8>>, String>>,
    ) -> Result<u16, RequestError> {
        let path = if key.is_empty() { format!("/{bucket}") } else { format!("/{bucket}/{}", uri_encode(key, false)) };
        let query_string: Vec<String> =
            query
                .iter()
                .map(|(name, value)| {
                    if value.is_empty() {
                        uri_encode(name, true)
                    } else {
                        format!("{}={}", uri_encode(name, true), uri_encode(value, true))
                    }
                })
                .collect();
        let path_with_query = if query.is_empty() { path.clone() } else { format!("{path}?{}", query_string.join("&")) };
        let payload_sha256 = if body.is_some() { UNSIGNED_PAYLOAD } else { EMPTY_SHA256 };
        let method_name = match &method {
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Get => "GET",
            Method::Head => "HEAD",
            _ => "POST",
        };
        let signed: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        let signature = self.signer.sign(
            &Signable { method: method_name, path: &path, query, host: &self.authority, payload_sha256, headers: &signed },
            SystemTime::now(),
        );
        let mut entries: Vec<(String, Vec<u8>)> = headers.iter().map(|(name, value)| (name.clone(), value.as_bytes().to_vec())).collect();
        entries.push(("x-amz-date".into(), signature.amz_date.into_bytes()));
        entries.push(("x-amz-content-sha256".into(), payload_sha256.as_bytes().to_vec()));
        entries.push(("authorization".into(), signature.authorization.into_bytes()));
        let fields = Fields::from_list(&entries).map_err(|error| RequestError::Source(format!("a header cannot be sent: {error:?}")))?;
        let request = OutgoingRequest::new(fields);
        let transport = |what: &str| RequestError::Transport(what.to_owned());
        request.set_method(&method).map_err(|()| transport("method"))?;
        request.set_scheme(Some(&self.scheme)).map_err(|()| transport("scheme"))?;
        request.set_authority(Some(&self.authority)).map_err(|()| transport("authority"))?;
        request.set_path_with_query(Some(&path_with_query)).map_err(|()| transport("path"))?;
        let outgoing_body = request.body().map_err(|()| transport("request body"))?;
        let options = RequestOptions::new();
        let _ = options.set_connect_timeout(Some(CONNECT_TIMEOUT.as_nanos() as u64));
        let _ = options.set_first_byte_timeout(Some(FIRST_BYTE_TIMEOUT.as_nanos() as u64));
        let _ = options.set_between_bytes_timeout(Some(FIRST_BYTE_TIMEOUT.as_nanos() as u64));
        // Started before the body is written: the body streams to a request in flight.
        let response = outgoing_handler::handle(request, Some(options)).map_err(|error| RequestError::Transport(format!("{error:?}")))?;
        {
            let stream = outgoing_body.write().map_err(|()| transport("body stream"))?;
            if let Some(next) = body {
                while let Some(chunk) = next().map_err(RequestError::Source)? {
                    for piece in chunk.chunks(WRITE_PIECE) {
                        stream
                            .blocking_write_and_flush(piece)
                            .map_err(|error| RequestError::Transport(format!("sending the body: {error:?}")))?;
                    }
                }
            }
        }
        OutgoingBody::finish(outgoing_body, None).map_err(|error| RequestError::Transport(format!("{error:?}")))?;
        response.subscribe().block();
        let response = match response.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(error))) => return Err(RequestError::Transport(format!("{error:?}"))),
            _ => return Err(transport("the response was lost")),
        };
        let status = response.status();
        if (200..300).contains(&status) {
            return Ok(status);
        }
        let text = read_body(response);
        Err(RequestError::Refused { status, code: xml_field(&text, "Code"), message: xml_field(&text, "Message") })
    }
}

fn read_body(response: wasip2::http::types::IncomingResponse) -> String {
    let Ok(body) = response.consume() else { return String::new() };
    let Ok(stream) = body.stream() else { return String::new() };
    let mut bytes = Vec::new();
    while bytes.len() < MAX_ERROR_BODY {
        match stream.blocking_read((MAX_ERROR_BODY - bytes.len()) as u64) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The text of `<name>…</name>` in an S3 error document ("" when absent).
fn xml_field(text: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let Some(start) = text.find(&open).map(|at| at + open.len()) else { return String::new() };
    let end = text[start..].find(&format!("</{name}>")).map_or(text.len(), |at| start + at);
    text[start..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_fields() {
        let text = "<Error><Code>AccessDenied</Code><Message>Access Denied.</Message></Error>";
        assert_eq!(xml_field(text, "Code"), "AccessDenied");
        assert_eq!(xml_field(text, "Message"), "Access Denied.");
        assert_eq!(xml_field(text, "RequestId"), "");
    }
}
