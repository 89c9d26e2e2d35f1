//! The leader's fence on the Kubernetes side: a tower layer on the controllers' API client that
//! refuses every request that changes something (POST, PUT, PATCH, DELETE) once the [`Fence`]
//! is closed, so a leader whose Lease could have expired sends no late apply, delete, status or
//! Event write, even in the moment before the process stops. Reads and watches go on. The
//! election's own Lease client is built without it (it must be able to renew).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower::{BoxError, Layer, Service};

use super::leader::Fence;

/// Refused: the fence was closed when the request was about to be sent.
#[derive(Debug, thiserror::Error)]
#[error("{method} {path} not sent: writes are fenced (leadership may have lapsed)")]
pub struct WriteFenced {
    pub method: http::Method,
    pub path: String,
}

/// Whether a request with this method changes the cluster's state.
pub fn changes_state(method: &http::Method) -> bool {
    !matches!(*method, http::Method::GET | http::Method::HEAD | http::Method::OPTIONS)
}

/// Wraps a client service in [`Fenced`].
#[derive(Clone, Debug)]
pub struct FenceLayer {
    fence: Fence,
}

impl FenceLayer {
    pub fn new(fence: Fence) -> FenceLayer {
        FenceLayer { fence }
    }
}

impl<S> Layer<S> for FenceLayer {
    type Service = Fenced<S>;
    fn layer(&self, inner: S) -> Fenced<S> {
        Fenced { inner, fence: self.fence.clone() }
    }
}

/// A service that lets writes through only while the fence allows them.
#[derive(Clone, Debug)]
pub struct Fenced<S> {
    inner: S,
    fence: Fence,
}

type Answer<R> = Pin<Box<dyn Future<Output = Result<R, BoxError>> + Send>>;

impl<S, B> Service<http::Request<B>> for Fenced<S>
where
    S: Service<http::Request<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Answer<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if changes_state(req.method()) && !self.fence.allows_writes() {
            let refused = WriteFenced { method: req.method().clone(), path: req.uri().path().to_owned() };
            tracing::warn!(%refused, "write refused by the leader fence");
            return Box::pin(std::future::ready(Err(refused.into())));
        }
        let answer = self.inner.call(req);
        Box::pin(async move { answer.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt;

    fn request(method: http::Method) -> http::Request<()> {
        http::Request::builder().method(method).uri("/api/v1/namespaces/ns/pods/p").body(()).expect("request")
    }

    /// A fenced service over one that counts what reaches it.
    fn fenced(fence: Fence) -> (impl Service<http::Request<()>, Response = (), Error = BoxError> + Clone, Arc<AtomicUsize>) {
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        let inner = tower::service_fn(move |_req: http::Request<()>| {
            counter.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok::<_, Infallible>(()))
        });
        (FenceLayer::new(fence).layer(inner), sent)
    }

    #[tokio::test]
    async fn item12_a_closed_fence_sends_no_kubernetes_write_and_every_read() {
        let (svc, sent) = fenced(Fence::closed());
        for method in [http::Method::POST, http::Method::PUT, http::Method::PATCH, http::Method::DELETE] {
            let err = svc.clone().oneshot(request(method.clone())).await.expect_err("fenced");
            let refused = err.downcast_ref::<WriteFenced>().expect("a WriteFenced error");
            assert_eq!((refused.method.clone(), refused.path.as_str()), (method, "/api/v1/namespaces/ns/pods/p"));
        }
        assert_eq!(sent.load(Ordering::SeqCst), 0, "no write reached the API server");
        svc.clone().oneshot(request(http::Method::GET)).await.expect("a read goes through");
        assert_eq!(sent.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_open_fence_lets_writes_through() {
        let (svc, sent) = fenced(Fence::open());
        svc.clone().oneshot(request(http::Method::PATCH)).await.expect("open");
        svc.oneshot(request(http::Method::DELETE)).await.expect("open");
        assert_eq!(sent.load(Ordering::SeqCst), 2);
    }
}
