//! Serving the application over plain TCP or TLS, with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// Serve `app` on `listener` until `shutdown` turns true. With `tls`, every connection is
/// a TLS handshake first; a failed handshake closes that connection only.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return Ok(()),
        };
        let app = app.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            match acceptor {
                None => serve_connection(TokioIo::new(stream), app, peer).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await;
                    match handshake {
                        Ok(Ok(tls)) => serve_connection(TokioIo::new(tls), app, peer).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "tls handshake failed"),
                        Err(_) => tracing::debug!(%peer, "tls handshake timed out"),
                    }
                }
            }
        });
    }
}

async fn serve_connection<I>(io: TokioIo<I>, app: Router, peer: SocketAddr)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        trim_trailing_slash(&mut request);
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    if let Err(e) = Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(io, service)
        .await
    {
        tracing::debug!(%peer, error = %e, "http connection ended with an error");
    }
}

/// `/es/` and `/es` reach the same route (shippers configured with a path prefix send
/// either form), as do `/api/v1/status/` and `/api/v1/status`.
fn trim_trailing_slash<B>(request: &mut hyper::Request<B>) {
    let path = request.uri().path();
    if path.len() <= 1 || !path.ends_with('/') {
        return;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let path_and_query = match request.uri().query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_owned(),
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slashes_are_trimmed_but_root_stays() {
        for (input, expected) in [
            ("/es/", "/es"),
            ("/es", "/es"),
            ("/", "/"),
            ("/api/v1/search/?q=a", "/api/v1/search?q=a"),
            ("//", "/"),
        ] {
            let mut req = hyper::Request::builder()
                .uri(input)
                .body(())
                .expect("valid request");
            trim_trailing_slash(&mut req);
            assert_eq!(req.uri().to_string(), expected, "{input}");
        }
    }
}
