//! The HTTP server: hyper accepts connections, and each request runs in its own instance of
//! the node's `wasi:http/incoming-handler`. Ctrl-C (or SIGTERM) stops accepting and lets
//! in-flight requests finish.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::runtime::{MAX_CONCURRENT_REQUESTS, Node, anyhow_error};

/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn serve(listener: TcpListener, node: Arc<Node>) -> Result<()> {
    // The instance pool has a fixed size: requests beyond it wait here instead of failing.
    let slots = Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS as usize));
    let graceful = GracefulShutdown::new();
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (node, slots) = (node.clone(), slots.clone());
                let service = service_fn(move |mut request: Request<hyper::body::Incoming>| {
                    let (node, slots) = (node.clone(), slots.clone());
                    mark_source(&mut request, peer);
                    async move { Ok::<_, Infallible>(handle(&node, &slots, request).await) }
                });
                let connection = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                });
            }
            _ = &mut ctrl_c => break,
            _ = terminate.recv() => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all requests finished"),
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("requests still running after {DRAIN_TIMEOUT:?}; exiting"),
    }
    Ok(())
}

/// The header that tells the node the client's address (`aws:SourceIp` in policies). Whatever a
/// client sent under that name is replaced, so it cannot be forged through this host; the node
/// trusts it only because the host sets `TESSERA_TRUST_SOURCE_IP_HEADER`.
pub const SOURCE_IP_HEADER: &str = "x-tessera-source-ip";

fn mark_source(request: &mut Request<hyper::body::Incoming>, peer: std::net::SocketAddr) {
    let address = peer.ip().to_canonical().to_string();
    let headers = request.headers_mut();
    headers.remove(SOURCE_IP_HEADER);
    if let Ok(value) = hyper::header::HeaderValue::from_str(&address) {
        headers.insert(SOURCE_IP_HEADER, value);
    }
}

/// Liveness, answered by the host itself (no instance): for orchestrators, and the baseline
/// `tessera bench --workload overhead` measures the component path against.
pub const LIVENESS_PATH: &str = "/_tessera/health/live";

async fn handle(node: &Arc<Node>, slots: &Arc<Semaphore>, request: Request<hyper::body::Incoming>) -> Response<HyperOutgoingBody> {
    if request.uri().path() == LIVENESS_PATH {
        return text_response(StatusCode::OK, "ok\n");
    }
    let method = request.method().clone();
    let uri = request.uri().clone();
    let close_after = expects_continue_without_body(&request);
    match run_handler(node, slots, request).await {
        Ok(mut response) => {
            if close_after {
                response.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
            }
            response
        }
        Err(error) => {
            tracing::error!(%method, %uri, error = format!("{error:#}"), "request failed in the node");
            internal_error()
        }
    }
}

async fn run_handler(
    node: &Arc<Node>,
    slots: &Arc<Semaphore>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<HyperOutgoingBody>> {
    let permit = slots.clone().acquire_owned().await?;
    let mut store = node.new_store();
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let request = store.data_mut().http().new_incoming_request(Scheme::Http, request).map_err(anyhow_error)?;
    let out = store.data_mut().http().new_response_outparam(sender).map_err(anyhow_error)?;
    let pre = node.pre().clone();
    // The guest keeps running after it sets the response: it streams the body from its task.
    let task = tokio::task::spawn(async move {
        let _permit = permit;
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy.wasi_http_incoming_handler().call_handle(&mut store, request, out).await
    });
    match receiver.await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(code)) => Err(anyhow::anyhow!("the node answered with an HTTP error: {code:?}")),
        Err(_) => Err(match task.await {
            Ok(Ok(())) => anyhow::anyhow!("the node returned without a response"),
            Ok(Err(error)) => anyhow_error(error).context("the node trapped before responding"),
            Err(error) => anyhow::Error::from(error).context("the request task failed"),
        }),
    }
}

/// `Expect: 100-continue` with an empty body: hyper answers it without a `100 Continue` (there
/// is no body to wait for), which is allowed, but botocore (1.43) then keeps that answer's status
/// line for the next `Expect` request on the same connection and misreads its response, until a
/// 60 s timeout. Closing such a connection after the response resets the client's state.
fn expects_continue_without_body(request: &Request<hyper::body::Incoming>) -> bool {
    let headers = request.headers();
    let expects = headers.get(hyper::header::EXPECT).is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    expects && headers.get(hyper::header::CONTENT_LENGTH).is_some_and(|value| value.as_bytes() == b"0")
}

fn internal_error() -> Response<HyperOutgoingBody> {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>";
    let mut response = text_response(StatusCode::INTERNAL_SERVER_ERROR, body);
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/xml"));
    response
}

fn text_response(status: StatusCode, body: &'static str) -> Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from_static(body.as_bytes())).map_err(|never: Infallible| match never {}).boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}
