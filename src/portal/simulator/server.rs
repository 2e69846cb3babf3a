//! The simulator's server lifecycle: [`PortalSimulator::router`] and
//! [`PortalSimulator::start`] (plain http) or [`PortalSimulator::start_tls`]
//! (https, see `tls`), the [`RunningSimulator`] handle, [`spawn`] /
//! [`spawn_tls`] (a free local port, for tests) and [`serve`] /
//! [`serve_tls`] (the CLI's `simulate-portal`).
//!
//! Only starting and stopping lives here: what a request does is `http`'s,
//! what it changes is `state`'s.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::config::SimulatorConfig;
use super::http;
use super::sim::PortalSimulator;
use super::tls::SimulatorTls;

impl PortalSimulator {
    /// The axum router: `/sharing/rest/…` plus the `/_sim/*` control routes.
    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    /// Serves this simulator (its state is shared, so a test can stop a
    /// server and start another on the same state) on `listener`, in a
    /// background task.
    pub fn start(&self, listener: TcpListener) -> std::io::Result<RunningSimulator> {
        self.start_on(listener, "http")
    }

    /// [`PortalSimulator::start`] over https: the same router behind `tls`'s
    /// certificate (clients must trust [`SimulatorTls::ca_pem`]).
    pub fn start_tls(
        &self,
        listener: TcpListener,
        tls: &SimulatorTls,
    ) -> std::io::Result<RunningSimulator> {
        self.start_on(tls.listener(listener)?, "https")
    }

    /// The router, told it is reached over https when it is: `info` then
    /// names an `https://` token service, as a client behind TLS expects.
    fn router_over(&self, scheme: &'static str) -> axum::Router {
        let router = self.router();
        if scheme != "https" {
            return router;
        }
        router.layer(axum::middleware::map_request(
            |mut req: axum::extract::Request| async move {
                req.headers_mut().insert(
                    "x-forwarded-proto",
                    axum::http::HeaderValue::from_static("https"),
                );
                req
            },
        ))
    }

    fn start_on<L>(&self, listener: L, scheme: &'static str) -> std::io::Result<RunningSimulator>
    where
        L: axum::serve::Listener<Addr = SocketAddr>,
    {
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let router = self.router_over(scheme);
        let task = tokio::spawn(async move {
            let stop = async {
                // Err means the sender was dropped: stop as well.
                let _ = rx.await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::warn!(error = %e, "portal simulator server stopped with an error");
            }
        });
        Ok(RunningSimulator {
            sim: self.clone(),
            addr,
            scheme,
            stop: Some(tx),
            task: Some(task),
        })
    }
}

/// A simulator serving HTTP on a local port. Dereferences to the
/// [`PortalSimulator`]; the server stops on [`RunningSimulator::shutdown`] or
/// when this is dropped.
pub struct RunningSimulator {
    sim: PortalSimulator,
    addr: SocketAddr,
    /// `http` or `https`.
    scheme: &'static str,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningSimulator {
    /// The REST root the client is configured with, e.g.
    /// `http://127.0.0.1:PORT/sharing/rest` (`https://…` when started with
    /// TLS).
    pub fn base_url(&self) -> String {
        format!("{}/sharing/rest", self.root_url())
    }

    /// The admin API's root, `http://127.0.0.1:PORT/portaladmin` (served
    /// by an ArcGIS Enterprise simulator only; ArcGIS Online's answers 404
    /// there).
    pub fn admin_url(&self) -> String {
        format!("{}/portaladmin", self.root_url())
    }

    /// `http://127.0.0.1:PORT` (control routes live under `/_sim/`).
    pub fn root_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The URL of layer `index` of a hosted feature service, shaped like
    /// ArcGIS Online's: `http://127.0.0.1:PORT/<org id>/arcgis/rest/services/
    /// <service>/FeatureServer/<index>`.
    pub fn layer_url(&self, service: &str, index: u32) -> String {
        format!(
            "{}/{}/arcgis/rest/services/{service}/FeatureServer/{index}",
            self.root_url(),
            self.sim.org_id()
        )
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The simulator behind the server.
    pub fn sim(&self) -> &PortalSimulator {
        &self.sim
    }

    /// Stops accepting connections and waits until open ones are closed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl std::ops::Deref for RunningSimulator {
    type Target = PortalSimulator;
    fn deref(&self) -> &PortalSimulator {
        &self.sim
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a simulator on `127.0.0.1:0` (a free port).
pub async fn spawn(config: SimulatorConfig) -> std::io::Result<RunningSimulator> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    PortalSimulator::new(config).start(listener)
}

/// Starts a simulator over https on `127.0.0.1:0` with `tls`'s certificate.
pub async fn spawn_tls(
    config: SimulatorConfig,
    tls: &SimulatorTls,
) -> std::io::Result<RunningSimulator> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    PortalSimulator::new(config).start_tls(listener, tls)
}

/// Serves a new simulator on `listener` until `shutdown` completes (for the
/// CLI's `simulate-portal` command).
pub async fn serve(
    config: SimulatorConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sim = PortalSimulator::new(config);
    axum::serve(listener, sim.router())
        .with_graceful_shutdown(shutdown)
        .await
}

/// [`serve`] over https with `tls`'s certificate.
pub async fn serve_tls(
    config: SimulatorConfig,
    listener: TcpListener,
    tls: &SimulatorTls,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sim = PortalSimulator::new(config);
    axum::serve(tls.listener(listener)?, sim.router_over("https"))
        .with_graceful_shutdown(shutdown)
        .await
}
