//! X.509 version 1 certificates, which the JDK accepts and webpki does not.
//!
//! Test harnesses and older deployments still make them (kazoo's harness signs its server
//! and client certificates without extensions, so as version 1). Ferrokeeper serves them as
//! ZooKeeper does:
//!
//! - [`SingleCert`] hands rustls the server's chain without webpki parsing the leaf;
//! - [`V1Tolerant`] verifies a client's version 1 leaf itself (issued and signed by a trusted
//!   root, within its validity period) when webpki refuses it for its version, and checks
//!   the handshake signatures with the leaf's public key.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::ResolvesServerCert;
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::prelude::*;

/// Always the same certificate and key.
#[derive(Debug)]
pub struct SingleCert(pub Arc<CertifiedKey>);

impl ResolvesServerCert for SingleCert {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl rustls::client::ResolvesClientCert for SingleCert {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A server certificate verifier that checks the chain, the validity period and the
/// handshake signatures (webpki) but not the name: the peer ports check the peer's
/// address against the certificate after the handshake, as Java does
/// ([`super::verify_peer_address`]).
#[derive(Debug)]
pub struct ChainOnly(pub Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, Error> {
        // webpki checks the name last, once the chain is known good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A client certificate verifier that also accepts version 1 leaves.
#[derive(Debug)]
pub struct V1Tolerant {
    /// The webpki verifier for everything else.
    pub inner: Arc<dyn ClientCertVerifier>,
    /// The trust anchors' certificates.
    pub roots: Vec<CertificateDer<'static>>,
}

fn ring_alg(
    scheme: SignatureScheme,
) -> Option<&'static dyn ring::signature::VerificationAlgorithm> {
    use ring::signature as s;
    Some(match scheme {
        SignatureScheme::RSA_PKCS1_SHA256 => &s::RSA_PKCS1_2048_8192_SHA256,
        SignatureScheme::RSA_PKCS1_SHA384 => &s::RSA_PKCS1_2048_8192_SHA384,
        SignatureScheme::RSA_PKCS1_SHA512 => &s::RSA_PKCS1_2048_8192_SHA512,
        SignatureScheme::RSA_PSS_SHA256 => &s::RSA_PSS_2048_8192_SHA256,
        SignatureScheme::RSA_PSS_SHA384 => &s::RSA_PSS_2048_8192_SHA384,
        SignatureScheme::RSA_PSS_SHA512 => &s::RSA_PSS_2048_8192_SHA512,
        SignatureScheme::ECDSA_NISTP256_SHA256 => &s::ECDSA_P256_SHA256_ASN1,
        SignatureScheme::ECDSA_NISTP384_SHA384 => &s::ECDSA_P384_SHA384_ASN1,
        SignatureScheme::ED25519 => &s::ED25519,
        _ => return None,
    })
}

/// The ring algorithm for a certificate signature, from its OID and the issuer's key.
fn cert_sig_alg(
    oid: &str,
    issuer_key_is_p384: bool,
) -> Option<&'static dyn ring::signature::VerificationAlgorithm> {
    use ring::signature as s;
    Some(match oid {
        "1.2.840.113549.1.1.11" => &s::RSA_PKCS1_2048_8192_SHA256,
        "1.2.840.113549.1.1.12" => &s::RSA_PKCS1_2048_8192_SHA384,
        "1.2.840.113549.1.1.13" => &s::RSA_PKCS1_2048_8192_SHA512,
        "1.2.840.10045.4.3.2" if issuer_key_is_p384 => &s::ECDSA_P384_SHA256_ASN1,
        "1.2.840.10045.4.3.2" => &s::ECDSA_P256_SHA256_ASN1,
        "1.2.840.10045.4.3.3" if issuer_key_is_p384 => &s::ECDSA_P384_SHA384_ASN1,
        "1.2.840.10045.4.3.3" => &s::ECDSA_P256_SHA384_ASN1,
        "1.3.101.112" => &s::ED25519,
        _ => return None,
    })
}

fn is_p384(spki: &SubjectPublicKeyInfo<'_>) -> bool {
    spki.algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .is_some_and(|o| o.to_id_string() == "1.3.132.0.34")
}

impl V1Tolerant {
    /// Verifies a version 1 leaf directly against the roots.
    fn verify_v1(&self, leaf: &[u8], now: UnixTime) -> bool {
        let Ok((_, cert)) = X509Certificate::from_der(leaf) else {
            return false;
        };
        if cert.version() != X509Version::V1 {
            return false;
        }
        let Ok(now) = ASN1Time::from_timestamp(now.as_secs() as i64) else {
            return false;
        };
        if !cert.validity().is_valid_at(now) {
            return false;
        }
        for root in &self.roots {
            let Ok((_, ca)) = X509Certificate::from_der(root) else {
                continue;
            };
            if ca.subject().as_raw() != cert.issuer().as_raw() {
                continue;
            }
            let oid = cert.signature_algorithm.algorithm.to_id_string();
            let Some(alg) = cert_sig_alg(&oid, is_p384(ca.public_key())) else {
                continue;
            };
            let key = ring::signature::UnparsedPublicKey::new(
                alg,
                ca.public_key().subject_public_key.data.as_ref(),
            );
            if key
                .verify(
                    cert.tbs_certificate.as_ref(),
                    cert.signature_value.data.as_ref(),
                )
                .is_ok()
            {
                return true;
            }
        }
        false
    }

    fn verify_sig(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let (_, parsed) = X509Certificate::from_der(cert)
            .map_err(|_| Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        let alg = ring_alg(dss.scheme).ok_or(Error::PeerMisbehaved(
            rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
        ))?;
        ring::signature::UnparsedPublicKey::new(
            alg,
            parsed.public_key().subject_public_key.data.as_ref(),
        )
        .verify(message, dss.signature())
        .map_err(|_| Error::InvalidCertificate(rustls::CertificateError::BadSignature))?;
        Ok(HandshakeSignatureValid::assertion())
    }

    fn is_v1(cert: &CertificateDer<'_>) -> bool {
        X509Certificate::from_der(cert).is_ok_and(|(_, c)| c.version() == X509Version::V1)
    }
}

impl ClientCertVerifier for V1Tolerant {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Ok(v) => Ok(v),
            Err(e) if self.verify_v1(end_entity, now) => {
                tracing::debug!("accepting a version 1 client certificate webpki refused ({e})");
                Ok(ClientCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        if Self::is_v1(cert) {
            return self.verify_sig(message, cert, dss);
        }
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        if Self::is_v1(cert) {
            return self.verify_sig(message, cert, dss);
        }
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
