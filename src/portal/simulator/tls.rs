//! https for the simulator (`simulate-portal --tls`, [`super::spawn_tls`]):
//! a throw-away certificate authority and a server certificate it signs,
//! made fresh at every start.
//!
//! Why a CA and a leaf rather than one self-signed certificate: Esri's
//! clients (ArcGIS API for Python through `requests`, ArcGIS REST JS on
//! Node) and rustls only accept a server certificate chained to a root they
//! are told to trust, and Python 3.13's strict verification refuses a
//! self-signed end-entity certificate or one without an authority key
//! identifier. So the root is a real CA (basic constraints CA, key usage
//! `keyCertSign`), and the leaf names `localhost`, `127.0.0.1` and `::1`,
//! is `serverAuth` only, carries the authority key identifier, and lives a
//! few weeks.
//!
//! Only the CA's certificate leaves memory (written to a file the clients
//! are pointed at). The CA's private key is dropped once the leaf is signed,
//! so nobody can mint another certificate with it; the leaf's key stays in
//! the rustls configuration.
//!
//! Serving: [`TlsListener`] is an [`axum::serve::Listener`], so the very
//! router of the plain-http mode is served unchanged. Handshakes run in
//! their own tasks (a client that connects and stays silent holds up no
//! one) and are abandoned after [`HANDSHAKE_TIMEOUT`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::server::TlsStream;

/// How long a client has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Days the certificates are valid after today (and one day before, so a
/// client whose clock is a little behind still accepts them).
const VALID_DAYS: i64 = 30;

/// The file name of the CA certificate in the `--tls-dir`.
pub const CA_FILE_NAME: &str = "ca.pem";

/// Why the simulator's TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SimTlsError {
    /// Making or signing a certificate failed.
    #[error("cannot make the simulator's certificate: {0}")]
    Certificate(String),
    /// rustls refused the certificate or key.
    #[error("cannot configure TLS: {0}")]
    Config(String),
    /// The CA certificate could not be written.
    #[error("cannot write the CA certificate to {path}: {reason}")]
    Write {
        /// Where it was to go.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
}

impl SimTlsError {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            SimTlsError::Certificate(_) => "sim_tls_certificate",
            SimTlsError::Config(_) => "sim_tls_config",
            SimTlsError::Write { .. } => "sim_tls_write",
        }
    }
}

/// A throw-away CA's certificate and the server configuration holding a
/// leaf it signed. Its `Debug` output shows the CA certificate only.
#[derive(Clone)]
pub struct SimulatorTls {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for SimulatorTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorTls")
            .field("ca_pem", &self.ca_pem)
            .finish_non_exhaustive()
    }
}

fn cert_err(e: rcgen::Error) -> SimTlsError {
    SimTlsError::Certificate(e.to_string())
}

/// Today plus `days` (UTC) as year, month, day.
fn ymd(days: i64) -> Result<(i32, u8, u8), SimTlsError> {
    use chrono::Datelike as _;
    let today = chrono::Utc::now().date_naive();
    let span = chrono::Days::new(days.unsigned_abs());
    let d = if days >= 0 {
        today.checked_add_days(span)
    } else {
        today.checked_sub_days(span)
    };
    let out_of_range = || SimTlsError::Certificate("validity out of range".into());
    let d = d.ok_or_else(out_of_range)?;
    let month = u8::try_from(d.month()).map_err(|_| out_of_range())?;
    let dom = u8::try_from(d.day()).map_err(|_| out_of_range())?;
    Ok((d.year(), month, dom))
}

/// Sets `params`' validity: from yesterday to [`VALID_DAYS`] from today.
fn set_validity(params: &mut CertificateParams) -> Result<(), SimTlsError> {
    let (y, m, d) = ymd(-1)?;
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = ymd(VALID_DAYS)?;
    params.not_after = rcgen::date_time_ymd(y, m, d);
    Ok(())
}

impl SimulatorTls {
    /// Makes a fresh CA and a leaf it signs for `localhost`, `127.0.0.1`
    /// and `::1`. The CA's key is dropped before this returns.
    pub fn generate() -> Result<Self, SimTlsError> {
        let mut ca = CertificateParams::default();
        set_validity(&mut ca)?;
        let mut ca_name = DistinguishedName::new();
        ca_name.push(
            DnType::CommonName,
            "agol-seat-broker simulator throw-away CA",
        );
        ca_name.push(DnType::OrganizationName, "agol-seat-broker");
        ca.distinguished_name = ca_name;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().map_err(cert_err)?;
        let ca_cert = ca.self_signed(&ca_key).map_err(cert_err)?;
        let issuer = Issuer::new(ca, ca_key);

        let mut leaf = CertificateParams::default();
        set_validity(&mut leaf)?;
        let mut leaf_name = DistinguishedName::new();
        leaf_name.push(DnType::CommonName, "localhost");
        leaf.distinguished_name = leaf_name;
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.subject_alt_names = vec![
            SanType::DnsName("localhost".to_string().try_into().map_err(cert_err)?),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ];
        leaf.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        // Why: Python 3.13's strict verification wants it on the leaf.
        leaf.use_authority_key_identifier_extension = true;
        let leaf_key = KeyPair::generate().map_err(cert_err)?;
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(cert_err)?;
        // The CA's key goes here: nothing else can be signed with it.
        drop(issuer);

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let chain: Vec<CertificateDer<'static>> =
            vec![leaf_cert.der().clone(), ca_cert.der().clone()];
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SimTlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| SimTlsError::Config(e.to_string()))?;
        // The router speaks HTTP/1.1 only (axum's `http1` feature).
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(SimulatorTls {
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        })
    }

    /// The CA certificate (PEM): what clients are told to trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes the CA certificate to `dir/ca.pem` (creating `dir`) and
    /// returns its path. Only the certificate: it holds no secret.
    pub fn write_ca(&self, dir: &Path) -> Result<PathBuf, SimTlsError> {
        let path = dir.join(CA_FILE_NAME);
        let failed = |e: std::io::Error| SimTlsError::Write {
            path: path.clone(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(failed)?;
        std::fs::write(&path, self.ca_pem.as_bytes()).map_err(failed)?;
        Ok(path)
    }

    /// A [`TlsListener`] serving this certificate on `listener`.
    pub fn listener(&self, listener: TcpListener) -> std::io::Result<TlsListener> {
        TlsListener::new(listener, TlsAcceptor::from(self.server.clone()))
    }
}

/// Accepts TCP connections and hands out those whose TLS handshake
/// succeeded. A failed or slow handshake is logged at debug and dropped.
pub struct TlsListener {
    addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor: JoinHandle<()>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    fn new(listener: TcpListener, tls: TlsAcceptor) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // As axum's own listener does: out of file
                        // descriptors and the like pass; wait a little.
                        tracing::debug!(error = %e, "simulator accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let tls = tls.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, %peer, "simulator TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "simulator TLS handshake timed out");
                        }
                    }
                });
            }
        });
        Ok(TlsListener {
            addr,
            ready,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // The accepting task owns the socket: stop it with the listener.
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // Only if the accepting task ended, which it does not: accept
            // nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
