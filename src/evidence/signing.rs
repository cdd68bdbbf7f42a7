//! Signing digests, and checking signatures with the public key alone.
//!
//! A `Signer` is a local Ed25519 key file (PKCS#8 PEM, as `openssl genpkey
//! -algorithm ed25519` writes it) or a KMS asymmetric key (`kms:Sign`).
//! Checking needs only the public key (DER SubjectPublicKeyInfo, as PEM or
//! as KMS GetPublicKey returns it), so it works offline and with
//! `openssl` instead of this binary (see `docs/digests.md`).

use super::digest::SigningFacts;
use crate::error::Failure;
use crate::BoxFuture;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivatePkcs8KeyDer, SubjectPublicKeyInfoDer};
use sha2::{Digest as _, Sha256};
use std::path::Path;

pub const ED25519: &str = "ED25519";
pub const ECDSA_SHA_256: &str = "ECDSA_SHA_256";
pub const RSASSA_PKCS1_V1_5_SHA_256: &str = "RSASSA_PKCS1_V1_5_SHA_256";

/// Signs digests' signing strings.
pub trait Signer: Send + Sync {
    /// The algorithm and the key, as every digest records them.
    fn facts(&self) -> &SigningFacts;
    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, Failure>>;
}

/// A local Ed25519 key: for teams without KMS, and for the tests.
pub struct Ed25519File {
    pair: Ed25519KeyPair,
    facts: SigningFacts,
}

impl Ed25519File {
    pub fn from_pem_file(path: &Path) -> Result<Self, Failure> {
        let bad = |why: String| {
            Failure::needs_person(format!(
                "signing key {}: {why}; make one with `openssl genpkey -algorithm ed25519 -out {}` and keep its \
                 public half (`openssl pkey -in {} -pubout`) for verifying",
                path.display(),
                path.display(),
                path.display()
            ))
        };
        let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it ({e})")))?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(&pem)
            .map_err(|e| bad(format!("not a PKCS#8 private key in PEM ({e})")))?;
        Self::from_pkcs8(der.secret_pkcs8_der()).map_err(bad)
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|e| format!("not an Ed25519 key ({e})"))?;
        let public = PublicKey::ed25519_raw(pair.public_key().as_ref());
        Ok(Ed25519File { pair, facts: SigningFacts { algorithm: ED25519.into(), key: public.fingerprint() } })
    }

    /// A new key, as PKCS#8 DER (the tests' keys).
    pub fn generate_pkcs8() -> Vec<u8> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        Ed25519KeyPair::generate_pkcs8(&rng).expect("the system has randomness").as_ref().to_vec()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey::ed25519_raw(self.pair.public_key().as_ref())
    }
}

impl Signer for Ed25519File {
    fn facts(&self) -> &SigningFacts {
        &self.facts
    }
    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, Failure>> {
        Box::pin(async move { Ok(self.pair.sign(message).as_ref().to_vec()) })
    }
}

/// A public key: DER SubjectPublicKeyInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    spki: Vec<u8>,
}

/// The DER SubjectPublicKeyInfo prefix of an Ed25519 key (RFC 8410), before
/// its 32 bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

impl PublicKey {
    pub fn from_der(spki: Vec<u8>) -> PublicKey {
        PublicKey { spki }
    }

    pub fn from_pem(pem: &[u8]) -> Result<PublicKey, String> {
        SubjectPublicKeyInfoDer::from_pem_slice(pem)
            .map(|der| PublicKey { spki: der.as_ref().to_vec() })
            .map_err(|e| format!("not a public key in PEM (BEGIN PUBLIC KEY): {e}"))
    }

    pub fn from_pem_file(path: &Path) -> Result<PublicKey, Failure> {
        let bad = |why: String| {
            Failure::needs_person(format!(
                "public key {}: {why}; give the PEM public key the digests were signed with (`openssl pkey -in \
                 KEY -pubout`), or --kms-key-id",
                path.display()
            ))
        };
        let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it ({e})")))?;
        Self::from_pem(&pem).map_err(bad)
    }

    fn ed25519_raw(raw: &[u8]) -> PublicKey {
        PublicKey { spki: [&ED25519_SPKI_PREFIX[..], raw].concat() }
    }

    /// `sha256:<hex>` of the DER SubjectPublicKeyInfo: how a digest names
    /// a local key.
    pub fn fingerprint(&self) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(&self.spki)))
    }

    pub fn der(&self) -> &[u8] {
        &self.spki
    }

    /// Whether `sig` is this key's signature of `message` by `algorithm`.
    /// An algorithm this version does not know never verifies.
    pub fn verify(&self, algorithm: &str, message: &[u8], sig: &[u8]) -> bool {
        let alg: &dyn signature::VerificationAlgorithm = match algorithm {
            ED25519 => &signature::ED25519,
            ECDSA_SHA_256 => &signature::ECDSA_P256_SHA256_ASN1,
            RSASSA_PKCS1_V1_5_SHA_256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            _ => return false,
        };
        // aws-lc-rs takes every one of these keys as SPKI.
        UnparsedPublicKey::new(alg, &self.spki).verify(message, sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_ed25519_signature_verifies_with_the_public_key_alone_and_only_for_its_message() {
        let signer = Ed25519File::from_pkcs8(&Ed25519File::generate_pkcs8()).unwrap();
        let sig = signer.sign(b"message").await.unwrap();
        let public = signer.public_key();
        assert!(public.verify(ED25519, b"message", &sig));
        assert!(!public.verify(ED25519, b"messagE", &sig));
        assert!(!public.verify(ECDSA_SHA_256, b"message", &sig), "the algorithm is part of what is checked");
        let other = Ed25519File::from_pkcs8(&Ed25519File::generate_pkcs8()).unwrap();
        assert!(!other.public_key().verify(ED25519, b"message", &sig));
        assert_eq!(signer.facts().key, public.fingerprint());
        assert_ne!(signer.facts().key, other.facts().key);
    }

    #[test]
    fn keys_read_from_openssl_pem() {
        // `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout`.
        let private = b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAYvNeqqMJvSXs/k0JRdLV/gofn7frOzlDWVutqf8fi/\n-----END PRIVATE KEY-----\n";
        let public = b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA4uwsjpe2xx8/WdnPHyiSEVV7uKJsAmPsn7KH8ZGvb/k=\n-----END PUBLIC KEY-----\n";
        let der = PrivatePkcs8KeyDer::from_pem_slice(private).unwrap();
        let signer = Ed25519File::from_pkcs8(der.secret_pkcs8_der()).unwrap();
        assert_eq!(PublicKey::from_pem(public).unwrap(), signer.public_key());
        assert!(PublicKey::from_pem(b"not a key").is_err());
        assert!(Ed25519File::from_pkcs8(b"not a key").is_err());
    }
}
