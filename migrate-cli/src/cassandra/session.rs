//! Connecting to a Cassandra cluster with the `scylla` driver: contact
//! points, password authentication (the password is never echoed or
//! logged), TLS with rustls (CA file, optional client certificate,
//! hostname verification on by default).

use crate::app::AppError;
use clap::Args;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::frame::types::Consistency;
use scylla::policies::retry::FallthroughRetryPolicy;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How to reach the target cluster.
#[derive(Args, Debug, Clone)]
pub struct ConnArgs {
    /// Contact points, HOST:PORT, comma-separated.
    #[arg(long, value_name = "HOST:PORT", required = true, value_delimiter = ',')]
    pub contact_points: Vec<String>,
    /// User name (or env SSTABLE_MIGRATE_CQL_USERNAME).
    #[arg(long, env = "SSTABLE_MIGRATE_CQL_USERNAME")]
    pub username: Option<String>,
    /// Password (prefer --password-file or env SSTABLE_MIGRATE_CQL_PASSWORD).
    #[arg(long, env = "SSTABLE_MIGRATE_CQL_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Read the password from this file (first line).
    #[arg(long, value_name = "FILE", conflicts_with = "password")]
    pub password_file: Option<PathBuf>,
    /// Connect with TLS.
    #[arg(long)]
    pub tls: bool,
    /// CA certificate(s) (PEM) to verify the nodes with (implies --tls).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM), for nodes that require one.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Verify the chain but not that the certificate names the node.
    #[arg(long)]
    pub tls_no_verify_hostname: bool,
    /// Consistency level of writes and reads.
    #[arg(long, default_value = "LOCAL_QUORUM", value_parser = parse_consistency)]
    pub consistency: Consistency,
}

fn parse_consistency(s: &str) -> Result<Consistency, String> {
    Ok(match s.to_ascii_uppercase().as_str() {
        "ANY" => Consistency::Any,
        "ONE" => Consistency::One,
        "TWO" => Consistency::Two,
        "THREE" => Consistency::Three,
        "QUORUM" => Consistency::Quorum,
        "ALL" => Consistency::All,
        "LOCAL_QUORUM" => Consistency::LocalQuorum,
        "EACH_QUORUM" => Consistency::EachQuorum,
        "LOCAL_ONE" => Consistency::LocalOne,
        _ => return Err(format!("unknown consistency `{s}`")),
    })
}

/// Accepts a certificate whose chain verifies but whose names do not
/// include the node (`--tls-no-verify-hostname`).
#[derive(Debug)]
struct NoHostnameVerification(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for NoHostnameVerification {
    fn verify_server_cert(
        &self,
        ee: &CertificateDer<'_>,
        inter: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(ee, inter, name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn tls_err(what: &str, p: &Path, e: impl std::fmt::Display) -> AppError {
    AppError::Usage(format!("TLS {what} {}: {e}", p.display()))
}

fn tls_config(a: &ConnArgs) -> Result<Arc<ClientConfig>, AppError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    match &a.tls_ca {
        Some(ca) => {
            let certs = CertificateDer::pem_file_iter(ca).map_err(|e| tls_err("CA file", ca, e))?;
            for c in certs {
                roots
                    .add(c.map_err(|e| tls_err("CA file", ca, e))?)
                    .map_err(|e| tls_err("CA file", ca, e))?;
            }
        }
        None => {
            return Err(AppError::Usage(
                "--tls needs --tls-ca FILE (the CA that signed the nodes' certificates)".into(),
            ))
        }
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| AppError::Usage(format!("TLS: {e}")))?;
    let b = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AppError::Usage(format!("TLS: {e}")))?;
    let b = if a.tls_no_verify_hostname {
        b.dangerous()
            .with_custom_certificate_verifier(Arc::new(NoHostnameVerification(webpki)))
    } else {
        b.with_webpki_verifier(webpki)
    };
    let cfg = match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| tls_err("client certificate", cert, e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| tls_err("client certificate", cert, e))?;
            let key_der =
                PrivateKeyDer::from_pem_file(key).map_err(|e| tls_err("client key", key, e))?;
            b.with_client_auth_cert(chain, key_der)
                .map_err(|e| AppError::Usage(format!("TLS client certificate: {e}")))?
        }
        _ => b.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

impl ConnArgs {
    fn password(&self) -> Result<Option<String>, AppError> {
        if let Some(p) = &self.password_file {
            let text = std::fs::read_to_string(p)
                .map_err(|e| AppError::Usage(format!("--password-file {}: {e}", p.display())))?;
            return Ok(Some(text.lines().next().unwrap_or("").to_string()));
        }
        Ok(self.password.clone())
    }

    /// Connect. Errors never include the password.
    pub async fn connect(&self) -> Result<Session, AppError> {
        let profile = ExecutionProfile::builder()
            .consistency(self.consistency)
            .request_timeout(Some(Duration::from_secs(20)))
            .retry_policy(Arc::new(FallthroughRetryPolicy::new()))
            .build()
            .into_handle();
        let mut b = SessionBuilder::new()
            .known_nodes(&self.contact_points)
            .connection_timeout(Duration::from_secs(10))
            .default_execution_profile_handle(profile)
            .disallow_shard_aware_port(true);
        if let Some(u) = &self.username {
            let pw = self.password()?.unwrap_or_default();
            b = b.user(u.clone(), pw);
        } else if self.password()?.is_some() {
            return Err(AppError::Usage(
                "a password was given without --username".into(),
            ));
        }
        if self.tls || self.tls_ca.is_some() {
            b = b.tls_context(Some(tls_config(self)?));
        }
        b.build().await.map_err(|e| {
            AppError::Usage(format!(
                "connecting to {}: {e}",
                self.contact_points.join(",")
            ))
        })
    }
}
