//! Reading key and trust stores in the formats Apache ZooKeeper accepts (`KeyStoreFileType`):
//! JKS (read here: the format is small and no maintained crate reads it), PKCS#12 (the
//! `p12-keystore` crate) and PEM (`rustls-pki-types`).
//!
//! The type comes from `ssl.keyStore.type` / `ssl.trustStore.type` when set, else from the
//! file name's extension (`.jks`, `.p12`/`.pfx`, `.pem`), as `KeyStoreFileType.fromFilename`.
//! JKS and PKCS#12 are then told apart by the content ([`detect`]), as the JDK does since 9
//! (`keystore.type.compat`: its JKS and PKCS12 loaders each read both formats): keytool
//! writes PKCS#12 by default, even into a file named `x.jks`, and ZooKeeper starts with such
//! a store whatever the type says. JCEKS is refused by both loaders, and here.
//!
//! EC keys written by the JDK (keytool, `ECPrivateKeyImpl`) leave the optional public point
//! out of the PKCS#8 `ECPrivateKey` (RFC 5915); *ring* needs it. Such P-256 and P-384 keys are
//! completed on load: the point is derived from the private scalar and the PKCS#8 re-encoded
//! ([`complete_ec_key`]).

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha1::{Digest as _, Sha1};

/// A store's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    /// Java KeyStore (`0xFEEDFEED`).
    Jks,
    /// PKCS#12.
    Pkcs12,
    /// PEM certificates and (for a key store) a private key.
    Pem,
}

/// Why a store could not be read. Never carries the password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading the file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The type is neither set nor implied by the file name, or is not one ZooKeeper knows.
    #[error("unknown store type '{0}' (expected JKS, PKCS12 or PEM)")]
    UnknownType(String),
    /// The content is not a store of that type, or the password does not open it.
    #[error("{path}: {what}")]
    Bad {
        /// The file.
        path: String,
        /// What is wrong.
        what: String,
    },
}

impl StoreType {
    /// `ssl.*Store.type` (case-insensitive: JKS, PKCS12, PEM; BCFKS is not supported), or the
    /// file extension when the type is unset.
    pub fn resolve(type_prop: Option<&str>, path: &Path) -> Result<Self, StoreError> {
        match type_prop.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => match t.to_ascii_uppercase().as_str() {
                "JKS" => Ok(StoreType::Jks),
                "PKCS12" => Ok(StoreType::Pkcs12),
                "PEM" => Ok(StoreType::Pem),
                _ => Err(StoreError::UnknownType(t.to_string())),
            },
            None => {
                let ext = path
                    .extension()
                    .map(|e| e.to_string_lossy().to_ascii_lowercase())
                    .unwrap_or_default();
                match ext.as_str() {
                    "jks" => Ok(StoreType::Jks),
                    "p12" | "pfx" => Ok(StoreType::Pkcs12),
                    "pem" => Ok(StoreType::Pem),
                    other => Err(StoreError::UnknownType(format!(
                        "(none; file extension '{other}')"
                    ))),
                }
            }
        }
    }
}

/// What a store holds.
#[derive(Debug, Default)]
pub struct Store {
    /// The private key (the first key entry), if any.
    pub key: Option<PrivateKeyDer<'static>>,
    /// That key's certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// Every certificate not part of a key entry (trusted certificates).
    pub trusted: Vec<CertificateDer<'static>>,
}

/// Reads the store at `path` of type `kind` with `password` (may be empty).
pub fn load(path: &Path, kind: StoreType, password: &str) -> Result<Store, StoreError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| StoreError::Io {
        path: shown.clone(),
        source,
    })?;
    let bad = |what: String| StoreError::Bad {
        path: shown.clone(),
        what,
    };
    let kind = match kind {
        StoreType::Jks | StoreType::Pkcs12 => detect(&bytes).map_err(|w| bad(w.to_string()))?,
        StoreType::Pem => StoreType::Pem,
    };
    let mut store = match kind {
        StoreType::Jks => read_jks(&bytes, password).map_err(|w| bad(w.to_string()))?,
        StoreType::Pkcs12 => read_pkcs12(&bytes, password).map_err(bad)?,
        StoreType::Pem => read_pem(&bytes).map_err(bad)?,
    };
    store.key = store.key.map(complete_ec_key).transpose().map_err(bad)?;
    Ok(store)
}

/// The format of a store configured as JKS or PKCS12, from its first bytes: the JKS magic
/// `0xFEEDFEED`, or a DER SEQUENCE (`0x30`, PKCS#12's `PFX`). The JCEKS magic `0xCECECECE`
/// and anything else are refused, as the JDK's JKS and PKCS12 loaders refuse them.
pub fn detect(bytes: &[u8]) -> Result<StoreType, &'static str> {
    match bytes {
        [0xfe, 0xed, 0xfe, 0xed, ..] => Ok(StoreType::Jks),
        [0xce, 0xce, 0xce, 0xce, ..] => Err(
            "a JCEKS store, which ZooKeeper cannot read either; convert it with keytool \
             -importkeystore -deststoretype PKCS12",
        ),
        [0x30, ..] => Ok(StoreType::Pkcs12),
        _ => Err("neither a JKS nor a PKCS12 store"),
    }
}

/// id-ecPublicKey, 1.2.840.10045.2.1.
const EC_PUBLIC_KEY_OID: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1 (secp256r1), 1.2.840.10045.3.1.7.
const P256_OID: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, 1.3.132.0.34.
const P384_OID: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// The `[1] publicKey` field of `ECPrivateKey`.
const EC_PUBLIC_KEY_TAG: u8 = 0xa1;

/// The named curve of a PKCS#8 EC key whose `ECPrivateKey` has no public key; `None` for any
/// other key (RSA, EdDSA, an EC key that has its public key, or something that does not
/// parse: those go to rustls unchanged).
fn ec_curve_missing_public_key(pkcs8: &[u8]) -> Option<&[u8]> {
    // PrivateKeyInfo ::= SEQUENCE { version INTEGER, algorithm AlgorithmIdentifier,
    //                               privateKey OCTET STRING, [0] attributes OPTIONAL, ... }
    let (0x30, info, _) = der(pkcs8).ok()? else {
        return None;
    };
    let (0x02, _, rest) = der(info).ok()? else {
        return None;
    };
    let (0x30, alg, rest) = der(rest).ok()? else {
        return None;
    };
    let (0x06, EC_PUBLIC_KEY_OID, params) = der(alg).ok()? else {
        return None;
    };
    let (0x06, curve, _) = der(params).ok()? else {
        return None;
    };
    let (0x04, ec_key, _) = der(rest).ok()? else {
        return None;
    };
    // ECPrivateKey ::= SEQUENCE { version INTEGER (1), privateKey OCTET STRING,
    //                             [0] parameters OPTIONAL, [1] publicKey OPTIONAL }
    let (0x30, fields, _) = der(ec_key).ok()? else {
        return None;
    };
    let (0x02, _, rest) = der(fields).ok()? else {
        return None;
    };
    let (0x04, _, mut rest) = der(rest).ok()? else {
        return None;
    };
    while !rest.is_empty() {
        let (tag, _, next) = der(rest).ok()?;
        if tag == EC_PUBLIC_KEY_TAG {
            return None;
        }
        rest = next;
    }
    Some(curve)
}

/// Returns `key` usable by *ring*: a PKCS#8 P-256 or P-384 key stored without its public
/// point (as keytool writes them) is re-encoded with the point, derived from the private
/// scalar. Every other key is returned as it is. Fails only for such an EC key whose scalar
/// is not valid for its curve.
pub fn complete_ec_key(key: PrivateKeyDer<'static>) -> Result<PrivateKeyDer<'static>, String> {
    use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
    let PrivateKeyDer::Pkcs8(pkcs8) = &key else {
        return Ok(key);
    };
    let der = pkcs8.secret_pkcs8_der();
    let completed = match ec_curve_missing_public_key(der) {
        None => return Ok(key),
        Some(P256_OID) => p256::SecretKey::from_pkcs8_der(der)
            .and_then(|k| k.to_pkcs8_der())
            .map_err(|e| format!("EC P-256 private key: {e}"))?,
        Some(P384_OID) => p384::SecretKey::from_pkcs8_der(der)
            .and_then(|k| k.to_pkcs8_der())
            .map_err(|e| format!("EC P-384 private key: {e}"))?,
        // Other curves (secp521r1, ...): *ring* signs with none of them anyway; rustls
        // reports the key as unsupported.
        Some(_) => return Ok(key),
    };
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        completed.as_bytes().to_vec(),
    )))
}

fn read_pem(bytes: &[u8]) -> Result<Store, String> {
    let mut store = Store::default();
    for cert in CertificateDer::pem_slice_iter(bytes) {
        store
            .chain
            .push(cert.map_err(|e| format!("bad PEM certificate: {e}"))?);
    }
    // An encrypted PEM key (keyStore.password set) is not supported: rustls-pki-types reads
    // PKCS#8, PKCS#1 and SEC1 keys in the clear.
    if let Ok(key) = PrivateKeyDer::from_pem_slice(bytes) {
        store.key = Some(key);
    }
    if store.key.is_none() {
        // A trust store: its certificates are the trusted ones.
        store.trusted = std::mem::take(&mut store.chain);
    }
    if store.key.is_none() && store.trusted.is_empty() {
        return Err("no certificate or private key in PEM file".into());
    }
    Ok(store)
}

fn read_pkcs12(bytes: &[u8], password: &str) -> Result<Store, String> {
    use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
    let ks = KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Relaxed)
        .map_err(|e| format!("not a PKCS#12 store, or wrong password ({e})"))?;
    let mut store = Store::default();
    for (_, entry) in ks.entries() {
        match entry {
            KeyStoreEntry::PrivateKeyChain(kc) if store.key.is_none() => {
                store.key = Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                    kc.key().as_der().to_vec(),
                )));
                store.chain = kc
                    .certs()
                    .iter()
                    .map(|c| CertificateDer::from(c.as_der().to_vec()))
                    .collect();
            }
            KeyStoreEntry::Certificate(c) => store
                .trusted
                .push(CertificateDer::from(c.as_der().to_vec())),
            _ => {}
        }
    }
    Ok(store)
}

// ---- JKS ------------------------------------------------------------------------------

const JKS_MAGIC: u32 = 0xFEED_FEED;
const JCEKS_MAGIC: u32 = 0xCECE_CECE;
/// Sun's proprietary key protection algorithm (`KeyProtector`).
const SUN_KEY_PROTECTOR_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x2a, 0x02, 0x11, 0x01, 0x01];

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.at.checked_add(n).ok_or("truncated store")?;
        let s = self.b.get(self.at..end).ok_or("truncated store")?;
        self.at = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, &'static str> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, &'static str> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn utf(&mut self) -> Result<&'a [u8], &'static str> {
        let n = self.u16()? as usize;
        self.take(n)
    }
    fn blob(&mut self) -> Result<&'a [u8], &'static str> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// The password as Java's `char[]` in big-endian bytes (what JKS hashes).
fn password_bytes(password: &str) -> Vec<u8> {
    password.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

fn read_jks(bytes: &[u8], password: &str) -> Result<Store, &'static str> {
    let mut r = Reader { b: bytes, at: 0 };
    match r.u32()? {
        JKS_MAGIC => {}
        JCEKS_MAGIC => return Err("JCEKS stores are not supported; convert to PKCS12"),
        _ => return Err("not a JKS store (bad magic number)"),
    }
    let version = r.u32()?;
    if version != 1 && version != 2 {
        return Err("unsupported JKS version");
    }
    let count = r.u32()?;
    let pw = password_bytes(password);
    let mut store = Store::default();
    let cert = |r: &mut Reader<'_>| -> Result<CertificateDer<'static>, &'static str> {
        if version == 2 {
            let kind = r.utf()?;
            if kind != b"X.509" {
                return Err("non-X.509 certificate in JKS store");
            }
        }
        Ok(CertificateDer::from(r.blob()?.to_vec()))
    };
    for _ in 0..count {
        let tag = r.u32()?;
        let _alias = r.utf()?;
        let _timestamp = r.take(8)?;
        match tag {
            1 => {
                let protected = r.blob()?;
                let n = r.u32()?;
                let mut chain = Vec::new();
                for _ in 0..n {
                    chain.push(cert(&mut r)?);
                }
                if store.key.is_none() {
                    let pkcs8 = unprotect_key(protected, &pw)?;
                    store.key = Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8)));
                    store.chain = chain;
                }
            }
            2 => store.trusted.push(cert(&mut r)?),
            3 => return Err("secret-key entries belong to JCEKS stores"),
            _ => return Err("unknown JKS entry tag"),
        }
    }
    // Integrity: SHA-1 over password, "Mighty Aphrodite" and everything before the digest.
    let body = &bytes[..r.at];
    let digest = r.take(20)?;
    if !password.is_empty() {
        let mut h = Sha1::new();
        h.update(&pw);
        h.update(b"Mighty Aphrodite");
        h.update(body);
        if h.finalize().as_slice() != digest {
            return Err("keystore was tampered with, or password was incorrect");
        }
    }
    Ok(store)
}

/// Reads one DER TLV at `b`, returning (tag, content, rest).
fn der(b: &[u8]) -> Result<(u8, &[u8], &[u8]), &'static str> {
    let bad = "malformed DER in a key entry";
    let (&tag, rest) = b.split_first().ok_or(bad)?;
    let (&l0, mut rest) = rest.split_first().ok_or(bad)?;
    let len = if l0 < 0x80 {
        l0 as usize
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad);
        }
        let len = rest[..n].iter().fold(0usize, |a, &x| (a << 8) | x as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(bad);
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// `KeyProtector.recover`: the PKCS#8 key inside an `EncryptedPrivateKeyInfo` protected with
/// Sun's SHA-1 keystream.
fn unprotect_key(epki: &[u8], pw: &[u8]) -> Result<Vec<u8>, &'static str> {
    let (tag, seq, _) = der(epki)?;
    if tag != 0x30 {
        return Err("malformed JKS key entry");
    }
    let (tag, alg, rest) = der(seq)?;
    if tag != 0x30 {
        return Err("malformed JKS key entry");
    }
    let (tag, oid, _) = der(alg)?;
    if tag != 0x06 || oid != SUN_KEY_PROTECTOR_OID {
        return Err("JKS key protected with an unsupported algorithm");
    }
    let (tag, data, _) = der(rest)?;
    if tag != 0x04 || data.len() < 40 {
        return Err("malformed JKS key entry");
    }
    let (salt, rest) = data.split_at(20);
    let (cipher, check) = rest.split_at(rest.len() - 20);
    let mut plain = Vec::with_capacity(cipher.len());
    let mut block: [u8; 20] = salt.try_into().map_err(|_| "malformed JKS key entry")?;
    for chunk in cipher.chunks(20) {
        let mut h = Sha1::new();
        h.update(pw);
        h.update(block);
        block = h.finalize().into();
        plain.extend(chunk.iter().zip(block.iter()).map(|(c, k)| c ^ k));
    }
    let mut h = Sha1::new();
    h.update(pw);
    h.update(&plain);
    if h.finalize().as_slice() != check {
        return Err("cannot recover key: wrong password");
    }
    Ok(plain)
}

/// Writes a JKS store (tests, and tools that need a store without a JDK): one private key
/// entry (`pkcs8` with `chain`) if given, then trusted certificates.
pub fn write_jks(
    password: &str,
    key: Option<(&[u8], &[&[u8]])>,
    trusted: &[&[u8]],
    salt: [u8; 20],
) -> Vec<u8> {
    fn utf(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    fn der_len(out: &mut Vec<u8>, n: usize) {
        if n < 0x80 {
            out.push(n as u8);
        } else {
            let bytes: Vec<u8> = n
                .to_be_bytes()
                .into_iter()
                .skip_while(|&b| b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend_from_slice(&bytes);
        }
    }
    let pw = password_bytes(password);
    let mut out = Vec::new();
    out.extend_from_slice(&JKS_MAGIC.to_be_bytes());
    out.extend_from_slice(&2u32.to_be_bytes());
    let count = key.is_some() as u32 + trusted.len() as u32;
    out.extend_from_slice(&count.to_be_bytes());
    if let Some((pkcs8, chain)) = key {
        out.extend_from_slice(&1u32.to_be_bytes());
        utf(&mut out, "key");
        out.extend_from_slice(&0u64.to_be_bytes());
        let mut data = salt.to_vec();
        let mut block = salt;
        for chunk in pkcs8.chunks(20) {
            let mut h = Sha1::new();
            h.update(&pw);
            h.update(block);
            block = h.finalize().into();
            data.extend(chunk.iter().zip(block.iter()).map(|(c, k)| c ^ k));
        }
        let mut h = Sha1::new();
        h.update(&pw);
        h.update(pkcs8);
        data.extend_from_slice(&h.finalize());
        let mut alg = vec![0x06, SUN_KEY_PROTECTOR_OID.len() as u8];
        alg.extend_from_slice(SUN_KEY_PROTECTOR_OID);
        alg.extend_from_slice(&[0x05, 0x00]);
        let mut inner = vec![0x30];
        der_len(&mut inner, alg.len());
        inner.extend_from_slice(&alg);
        inner.push(0x04);
        der_len(&mut inner, data.len());
        inner.extend_from_slice(&data);
        let mut epki = vec![0x30];
        der_len(&mut epki, inner.len());
        epki.extend_from_slice(&inner);
        out.extend_from_slice(&(epki.len() as u32).to_be_bytes());
        out.extend_from_slice(&epki);
        out.extend_from_slice(&(chain.len() as u32).to_be_bytes());
        for c in chain {
            utf(&mut out, "X.509");
            out.extend_from_slice(&(c.len() as u32).to_be_bytes());
            out.extend_from_slice(c);
        }
    }
    for (i, c) in trusted.iter().enumerate() {
        out.extend_from_slice(&2u32.to_be_bytes());
        utf(&mut out, &format!("ca{i}"));
        out.extend_from_slice(&0u64.to_be_bytes());
        utf(&mut out, "X.509");
        out.extend_from_slice(&(c.len() as u32).to_be_bytes());
        out.extend_from_slice(c);
    }
    let mut h = Sha1::new();
    h.update(&pw);
    h.update(b"Mighty Aphrodite");
    h.update(&out);
    let d = h.finalize();
    out.extend_from_slice(&d);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jks_round_trip_and_wrong_password() {
        let key = b"pretend this is a pkcs8 key of some length, longer than one block".to_vec();
        let chain: [&[u8]; 2] = [b"leaf-cert", b"ca-cert"];
        let bytes = write_jks("apassword", Some((&key, &chain)), &[b"trusted"], [7; 20]);
        let store = read_jks(&bytes, "apassword").unwrap();
        let Some(PrivateKeyDer::Pkcs8(k)) = &store.key else {
            panic!()
        };
        assert_eq!(k.secret_pkcs8_der(), &key[..]);
        assert_eq!(store.chain.len(), 2);
        assert_eq!(store.chain[0].as_ref(), b"leaf-cert");
        assert_eq!(store.trusted[0].as_ref(), b"trusted");
        let err = read_jks(&bytes, "wrong").unwrap_err();
        assert!(err.contains("password"));
        assert!(read_jks(&bytes[..bytes.len() - 3], "apassword").is_err());
        assert!(read_jks(b"\xca\xfe\xba\xbe", "x").is_err());
    }

    /// A PKCS#8 EC key as the JDK writes it: `ECPrivateKey` with the scalar only.
    fn java_style_ec_pkcs8(curve_oid: &[u8], scalar: &[u8]) -> Vec<u8> {
        fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
            assert!(content.len() < 0x80);
            let mut v = vec![tag, content.len() as u8];
            v.extend_from_slice(content);
            v
        }
        let ec_private_key = tlv(0x30, &[tlv(0x02, &[1]), tlv(0x04, scalar)].concat());
        let alg = tlv(
            0x30,
            &[tlv(0x06, EC_PUBLIC_KEY_OID), tlv(0x06, curve_oid)].concat(),
        );
        tlv(
            0x30,
            &[tlv(0x02, &[0]), alg, tlv(0x04, &ec_private_key)].concat(),
        )
    }

    fn ring_accepts(key: &PrivateKeyDer<'static>) -> bool {
        rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(key.clone_key())
            .is_ok()
    }

    #[test]
    fn ec_keys_without_public_point_are_completed() {
        for (curve, len) in [(P256_OID, 32), (P384_OID, 48)] {
            let scalar: Vec<u8> = (1..=len as u8).collect();
            let java = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(java_style_ec_pkcs8(
                curve, &scalar,
            )));
            assert!(
                !ring_accepts(&java),
                "ring takes keys without the point now"
            );
            let done = complete_ec_key(java.clone_key()).unwrap();
            assert!(ring_accepts(&done));
            let PrivateKeyDer::Pkcs8(d) = &done else {
                panic!()
            };
            // The same scalar, now with the point; completing again changes nothing.
            assert!(d
                .secret_pkcs8_der()
                .windows(scalar.len())
                .any(|w| w == scalar));
            assert_eq!(ec_curve_missing_public_key(d.secret_pkcs8_der()), None);
            let again = complete_ec_key(done.clone_key()).unwrap();
            assert_eq!(again.secret_der(), done.secret_der());
        }
        // The point is the scalar times the generator: 1 gives the generator itself.
        let mut one = vec![0u8; 32];
        one[31] = 1;
        let done = complete_ec_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            java_style_ec_pkcs8(P256_OID, &one),
        )))
        .unwrap();
        let gx = [
            0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4,
            0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45,
            0xd8, 0x98, 0xc2, 0x96,
        ];
        let mut point = vec![0x04];
        point.extend_from_slice(&gx);
        assert!(done.secret_der().windows(33).any(|w| w == point));
        // A scalar of zero is no key: an error, not a panic.
        assert!(
            complete_ec_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                java_style_ec_pkcs8(P256_OID, &[0; 32])
            )))
            .is_err()
        );
        // Keys that need nothing pass through untouched.
        let rsa_like = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(vec![0x30, 0x03, 1, 2, 3]));
        assert_eq!(
            complete_ec_key(rsa_like.clone_key()).unwrap().secret_der(),
            rsa_like.secret_der()
        );
    }

    #[test]
    fn jks_and_pkcs12_are_told_apart_by_content() {
        let jks = write_jks("pw", None, &[], [0; 20]);
        assert_eq!(detect(&jks), Ok(StoreType::Jks));
        assert_eq!(detect(&[0x30, 0x82, 0x0a, 0x14]), Ok(StoreType::Pkcs12));
        assert!(detect(&[0xce, 0xce, 0xce, 0xce, 0, 0, 0, 2])
            .unwrap_err()
            .contains("JCEKS"));
        assert!(detect(b"-----BEGIN CERTIFICATE-----").is_err());
        assert!(detect(b"").is_err());
        // A JKS file loads whichever type was configured for it.
        let dir = std::env::temp_dir().join(format!("fk-detect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("named.p12");
        std::fs::write(&path, &jks).unwrap();
        assert!(load(&path, StoreType::Pkcs12, "pw").is_ok());
        std::fs::write(&path, [0xce, 0xce, 0xce, 0xce, 0, 0, 0, 2]).unwrap();
        let e = load(&path, StoreType::Jks, "pw").unwrap_err().to_string();
        assert!(e.contains("JCEKS") && e.contains("named.p12"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn store_type_from_name_or_property() {
        let p = Path::new("/x/keystore.jks");
        assert_eq!(StoreType::resolve(None, p).unwrap(), StoreType::Jks);
        assert_eq!(
            StoreType::resolve(Some("pkcs12"), p).unwrap(),
            StoreType::Pkcs12
        );
        assert_eq!(
            StoreType::resolve(None, Path::new("a.pfx")).unwrap(),
            StoreType::Pkcs12
        );
        assert!(StoreType::resolve(Some("BCFKS"), p).is_err());
        assert!(StoreType::resolve(None, Path::new("a.bin")).is_err());
    }
}
