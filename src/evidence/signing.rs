//! Signing digests, and checking signatures with the public key alone.
//!
//! A `Signer` is a local Ed25519 key file (PKCS#8 PEM, as `openssl genpkey
//! -algorithm ed25519` writes it) or a KMS asymmetric key (`kms:Sign`).
//! Checking needs only the public key (DER SubjectPublicKeyInfo, as PEM or
//! as KMS GetPublicKey returns it), so it works offline and with
//! `openssl` instead of this binary (see `docs/digests.md`).

use super::digest::SigningFacts;
use crate::aws::{classify, permission_hint, status_of};
use crate::error::{Failure, FailureKind};
use crate::BoxFuture;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::get_public_key::GetPublicKeyOutput;
use aws_sdk_kms::types::{KeyUsageType, MessageType, SigningAlgorithmSpec};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
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
    /// The public half: what a digest another run sealed is checked with
    /// before this run adopts it.
    fn public(&self) -> PublicKey;
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
    fn public(&self) -> PublicKey {
        self.public_key()
    }
    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, Failure>> {
        Box::pin(async move { Ok(self.pair.sign(message).as_ref().to_vec()) })
    }
}

/// A KMS asymmetric key (`kms:Sign`, `kms:GetPublicKey`): the private key
/// never leaves KMS, and CloudTrail records every signature made with it.
pub struct KmsSigner {
    client: aws_sdk_kms::Client,
    algorithm: SigningAlgorithmSpec,
    /// The key's public half, from GetPublicKey: every signature KMS
    /// returns is checked with it before a digest carries it.
    public: PublicKey,
    facts: SigningFacts,
}

/// Most bytes KMS signs with MessageType RAW; a signing string is a few
/// hundred (a time, a bucket and key, two hashes or signatures in hex).
const KMS_RAW_LIMIT: usize = 4096;

/// What the first signature at start-up signs. It cannot pass for a
/// digest's signature: every signing string begins with a time.
const KMS_PROBE: &[u8] = b"auditship: checking that this KMS key signs digests that verify with its public key";

impl KmsSigner {
    /// Reads the key (GetPublicKey) and signs once with it, before any
    /// work: a missing permission, a key that cannot sign digests, or
    /// signatures that do not verify with the public key an auditor gets
    /// fail the run at once, as a bad key file does. The probe's answer
    /// also names the key's ARN (GetPublicKey's KeyId is the ARN on AWS,
    /// but not on every KMS-compatible endpoint), which every digest
    /// records and every later Sign names, so an alias moved to another
    /// key meanwhile never changes the key that signs.
    pub async fn new(client: aws_sdk_kms::Client, key_id: &str) -> Result<Self, Failure> {
        let key = get_public_key(&client, key_id).await?;
        let algorithm = signing_algorithm(key_id, &key)?;
        let public = public_key_of(key_id, &key)?;
        let (signed_by, probe) = kms_sign(&client, key_id, &algorithm, KMS_PROBE).await?;
        let arn = [signed_by.as_deref(), key.key_id(), Some(key_id)]
            .into_iter()
            .flatten()
            .find(|id| is_key_arn(id))
            .map(str::to_string)
            .ok_or_else(|| {
                Failure::needs_person(format!(
                    "KMS key {key_id}: neither GetPublicKey nor Sign answered with the key's ARN, which every digest \
                     records: give the key's ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) as the key id"
                ))
            })?;
        check_kms_signature(&arn, &public, algorithm.as_str(), KMS_PROBE, &probe)?;
        let facts = SigningFacts { algorithm: algorithm.as_str().to_string(), key: arn };
        Ok(KmsSigner { client, algorithm, public, facts })
    }
}

impl Signer for KmsSigner {
    fn facts(&self) -> &SigningFacts {
        &self.facts
    }
    fn public(&self) -> PublicKey {
        self.public.clone()
    }
    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, Failure>> {
        Box::pin(async move {
            let arn = &self.facts.key;
            if message.len() > KMS_RAW_LIMIT {
                return Err(Failure::needs_person(format!(
                    "KMS key {arn}: a digest's signing string of {} bytes is longer than the {KMS_RAW_LIMIT} KMS signs \
                     whole (bucket and key names this long are not expected): shorten --prefix, or sign with \
                     --signing-key-file",
                    message.len()
                )));
            }
            let (_, signature) = kms_sign(&self.client, arn, &self.algorithm, message).await?;
            check_kms_signature(arn, &self.public, &self.facts.algorithm, message, &signature)?;
            Ok(signature)
        })
    }
}

/// The public key of a KMS key (GetPublicKey: DER SubjectPublicKeyInfo),
/// to check digests with.
pub async fn kms_public_key(client: &aws_sdk_kms::Client, key_id: &str) -> Result<PublicKey, Failure> {
    public_key_of(key_id, &get_public_key(client, key_id).await?)
}

/// Whether `id` is a KMS key ARN (not a key id, an alias or an alias ARN).
fn is_key_arn(id: &str) -> bool {
    id.starts_with("arn:") && id.split(':').nth(5).is_some_and(|resource| resource.starts_with("key/"))
}

/// The region of a KMS key or alias ARN: the KMS client must call that
/// region's endpoint. `None` for a key id or alias name (the run's region).
pub fn kms_arn_region(id: &str) -> Option<&str> {
    let parts: Vec<&str> = id.splitn(6, ':').collect();
    (parts.len() == 6 && parts[0] == "arn" && parts[2] == "kms" && !parts[3].is_empty()).then(|| parts[3])
}

async fn get_public_key(client: &aws_sdk_kms::Client, key_id: &str) -> Result<GetPublicKeyOutput, Failure> {
    client
        .get_public_key()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| kms_failure("GetPublicKey", "kms:GetPublicKey", key_id, &e))
}

/// Signs `message` whole (MessageType RAW: KMS hashes it, so the signature
/// is the one `openssl dgst -sha256 -verify` checks); returns the ARN the
/// answer names and the signature.
async fn kms_sign(
    client: &aws_sdk_kms::Client,
    key_id: &str,
    algorithm: &SigningAlgorithmSpec,
    message: &[u8],
) -> Result<(Option<String>, Vec<u8>), Failure> {
    let out = client
        .sign()
        .key_id(key_id)
        .message(aws_smithy_types::Blob::new(message))
        .message_type(MessageType::Raw)
        .signing_algorithm(algorithm.clone())
        .send()
        .await
        .map_err(|e| kms_failure("Sign", "kms:Sign", key_id, &e))?;
    let signature = out.signature().map(|b| b.as_ref().to_vec()).filter(|s| !s.is_empty()).ok_or_else(|| {
        Failure::transient(format!("KMS Sign with key {key_id} answered without a signature; the next run tries again"))
    })?;
    Ok((out.key_id().map(str::to_string), signature))
}

/// A signature KMS returned that does not verify with the key's public
/// half is never written into a digest: every auditor would find it bad.
fn check_kms_signature(
    key: &str,
    public: &PublicKey,
    algorithm: &str,
    message: &[u8],
    signature: &[u8],
) -> Result<(), Failure> {
    if public.verify(algorithm, message, signature) {
        return Ok(());
    }
    Err(Failure::needs_person(format!(
        "KMS key {key}: its {algorithm} signature does not verify with the public key GetPublicKey gives, so no digest \
         is signed with it: check that the KMS endpoint (--kms-endpoint-url) is AWS KMS or faithful to it, or sign \
         with another key"
    )))
}

/// How digests are signed with this key: ECDSA_SHA_256 for an
/// ECC_NIST_P256 key, RSASSA_PKCS1_V1_5_SHA_256 for an RSA key; what
/// `verify` and openssl check with the public key alone. Other keys are
/// refused (P-384/P-521 sign with SHA-384/512, secp256k1 is not P-256,
/// PSS is left out: its salt length differs between KMS implementations).
fn signing_algorithm(key_id: &str, key: &GetPublicKeyOutput) -> Result<SigningAlgorithmSpec, Failure> {
    let create = "create one with `aws kms create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY` and give \
                  its ARN";
    let usage = key.key_usage().map_or("none", |u| u.as_str());
    if usage != KeyUsageType::SignVerify.as_str() {
        return Err(Failure::needs_person(format!(
            "KMS key {key_id} has key usage {usage}, so it cannot sign digests: give a SIGN_VERIFY key, or {create}"
        )));
    }
    // moto's GetPublicKey names only the deprecated CustomerMasterKeySpec.
    #[allow(deprecated)]
    let spec = key.key_spec().map(|s| s.as_str()).or(key.customer_master_key_spec().map(|s| s.as_str()));
    let algorithm = match spec {
        Some("ECC_NIST_P256") => SigningAlgorithmSpec::EcdsaSha256,
        Some("RSA_2048" | "RSA_3072" | "RSA_4096") => SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
        other => {
            return Err(Failure::needs_person(format!(
                "KMS key {key_id} is a {} key, which digests are not signed with (only ECC_NIST_P256 with \
                 ECDSA_SHA_256 and RSA with RSASSA_PKCS1_V1_5_SHA_256 are): {create}",
                other.unwrap_or("key of no stated spec")
            )))
        }
    };
    let offered = key.signing_algorithms();
    if !offered.is_empty() && !offered.contains(&algorithm) {
        let names: Vec<&str> = offered.iter().map(|a| a.as_str()).collect();
        return Err(Failure::needs_person(format!(
            "KMS key {key_id} offers {} but not {}, which digests of its key spec are signed with: {create}",
            names.join(", "),
            algorithm.as_str()
        )));
    }
    Ok(algorithm)
}

fn public_key_of(key_id: &str, key: &GetPublicKeyOutput) -> Result<PublicKey, Failure> {
    match key.public_key().map(|b| b.as_ref().to_vec()).filter(|der| !der.is_empty()) {
        Some(der) => Ok(PublicKey::from_der(der)),
        None => Err(Failure::transient(format!(
            "KMS GetPublicKey for key {key_id} answered without a public key; the next run tries again"
        ))),
    }
}

/// A KMS call's error as a failure: a refusal names the permission and the
/// key, a key that does not exist or cannot be used says how to fix it;
/// throttling, 5xx and no answer stay transient (see `aws::classify`).
fn kms_failure<E>(call: &str, action: &str, key: &str, e: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let f = classify(e);
    match e.code() {
        Some("NotFoundException") => Failure::needs_person(format!(
            "KMS key {key} not found ({}): give the key id, key ARN or alias/NAME of a key in this account, and the \
             region it is in (--region, or the key's ARN)",
            f.message
        )),
        Some("DisabledException" | "KMSInvalidStateException") => Failure::needs_person(format!(
            "KMS key {key} cannot be used ({}): enable it (`aws kms enable-key`) or cancel its deletion, or give \
             another key",
            f.message
        )),
        Some("UnsupportedOperationException" | "InvalidKeyUsageException") => Failure::needs_person(format!(
            "KMS key {key} cannot sign digests ({}): give an asymmetric SIGN_VERIFY key (ECC_NIST_P256 or RSA)",
            f.message
        )),
        code if f.kind == FailureKind::NeedsPerson && (code.is_some_and(denied) || status_of(e) == Some(403)) => {
            let hint = permission_hint(&format!("{action} on key {key}, and that the key policy does too"));
            f.context(format!("KMS {call} ({hint})"))
        }
        _ => f.context(format!("KMS {call} with key {key}")),
    }
}

/// Codes KMS refuses a caller with: its credentials, or a policy (IAM or
/// the key's own) that does not allow the call.
fn denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDeniedException" | "UnrecognizedClientException" | "InvalidSignatureException" | "ExpiredTokenException"
    )
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

    const ARN: &str = "arn:aws:kms:eu-west-1:123456789012:key/0f3d8c2e-4b7a-4c1e-9d2f-6a5b4c3d2e1f";

    fn key(spec: &str, usage: &str, offered: &[&str]) -> GetPublicKeyOutput {
        let mut b = GetPublicKeyOutput::builder().key_spec(spec.into()).key_usage(usage.into());
        for a in offered {
            b = b.signing_algorithms((*a).into());
        }
        b.build()
    }

    #[test]
    fn a_kms_key_signs_by_its_spec_and_other_keys_are_refused_naming_the_key_and_the_fix() {
        let ec = key("ECC_NIST_P256", "SIGN_VERIFY", &["ECDSA_SHA_256"]);
        assert_eq!(signing_algorithm(ARN, &ec).unwrap().as_str(), ECDSA_SHA_256);
        let rsa = key("RSA_3072", "SIGN_VERIFY", &["RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256"]);
        assert_eq!(signing_algorithm(ARN, &rsa).unwrap().as_str(), RSASSA_PKCS1_V1_5_SHA_256, "never PSS");
        // As moto answers: the spec only in the deprecated field.
        #[allow(deprecated)]
        let moto = GetPublicKeyOutput::builder()
            .customer_master_key_spec("RSA_2048".into())
            .key_usage("SIGN_VERIFY".into())
            .build();
        assert_eq!(signing_algorithm(ARN, &moto).unwrap().as_str(), RSASSA_PKCS1_V1_5_SHA_256);
        for (bad, says) in [
            (key("ECC_NIST_P384", "SIGN_VERIFY", &["ECDSA_SHA_384"]), "ECC_NIST_P384"),
            (key("ECC_SECG_P256K1", "SIGN_VERIFY", &["ECDSA_SHA_256"]), "ECC_SECG_P256K1"),
            (key("RSA_2048", "ENCRYPT_DECRYPT", &[]), "ENCRYPT_DECRYPT"),
            (key("ECC_NIST_P256", "SIGN_VERIFY", &["ECDSA_SHA_384"]), "not ECDSA_SHA_256"),
            (GetPublicKeyOutput::builder().key_usage("SIGN_VERIFY".into()).build(), "no stated spec"),
        ] {
            let f = signing_algorithm(ARN, &bad).unwrap_err();
            assert_eq!(f.kind, FailureKind::NeedsPerson, "{}", f.message);
            assert!(f.message.contains(ARN) && f.message.contains(says), "{}", f.message);
            assert!(f.message.contains("aws kms create-key --key-spec ECC_NIST_P256"), "the fix: {}", f.message);
            assert!(!f.message.contains('\n'));
        }
    }

    fn kms_error(status: u16, code: &str) -> SdkError<aws_sdk_kms::operation::sign::SignError, HttpResponse> {
        let meta = aws_smithy_types::error::ErrorMetadata::builder().code(code).message("said so").build();
        let status = aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap();
        SdkError::service_error(
            aws_sdk_kms::operation::sign::SignError::generic(meta),
            HttpResponse::new(status, aws_smithy_types::body::SdkBody::empty()),
        )
    }

    #[test]
    fn kms_refusals_need_a_person_naming_the_permission_and_the_key_and_throttling_is_transient() {
        let denied = kms_failure("Sign", "kms:Sign", ARN, &kms_error(400, "AccessDeniedException"));
        assert_eq!(denied.kind, FailureKind::NeedsPerson);
        assert!(denied.message.contains("kms:Sign") && denied.message.contains(ARN), "{}", denied.message);
        assert!(denied.message.contains("AccessDeniedException: said so"), "the cause: {}", denied.message);
        let gone = kms_failure("GetPublicKey", "kms:GetPublicKey", "alias/x", &kms_error(400, "NotFoundException"));
        assert_eq!(gone.kind, FailureKind::NeedsPerson);
        assert!(gone.message.contains("alias/x") && gone.message.contains("--region"), "{}", gone.message);
        let off = kms_failure("Sign", "kms:Sign", ARN, &kms_error(400, "DisabledException"));
        assert!(off.message.contains("enable-key") && off.kind == FailureKind::NeedsPerson, "{}", off.message);
        let invalid = kms_failure("Sign", "kms:Sign", ARN, &kms_error(400, "ValidationException"));
        assert_eq!(invalid.kind, FailureKind::NeedsPerson);
        assert!(!invalid.message.contains("allows kms:Sign"), "not a permission matter: {}", invalid.message);
        for (status, code) in [(400, "ThrottlingException"), (500, "KMSInternalException"), (503, "")] {
            let f = kms_failure("Sign", "kms:Sign", ARN, &kms_error(status, code));
            assert_eq!(f.kind, FailureKind::Transient, "{status} {code}: {}", f.message);
            assert!(f.message.contains(ARN), "{}", f.message);
        }
    }

    #[test]
    fn a_kms_signature_is_kept_only_if_it_verifies_with_the_public_key() {
        use aws_lc_rs::encoding::AsDer;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
        let pair = signature::EcdsaKeyPair::from_pkcs8(
            alg,
            signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap().as_ref(),
        )
        .unwrap();
        let public = PublicKey::from_der(pair.public_key().as_der().unwrap().as_ref().to_vec());
        let sig = pair.sign(&rng, b"message").unwrap().as_ref().to_vec();
        assert!(check_kms_signature(ARN, &public, ECDSA_SHA_256, b"message", &sig).is_ok());
        let f = check_kms_signature(ARN, &public, ECDSA_SHA_256, b"messagE", &sig).unwrap_err();
        assert!(f.message.contains(ARN) && f.message.contains("does not verify"), "{}", f.message);
        assert!(check_kms_signature(ARN, &public, RSASSA_PKCS1_V1_5_SHA_256, b"message", &sig).is_err());
    }

    #[test]
    fn kms_key_arns_and_their_regions() {
        assert!(is_key_arn(ARN));
        assert!(!is_key_arn("arn:aws:kms:eu-west-1:123456789012:alias/digests"));
        assert!(!is_key_arn("0f3d8c2e-4b7a-4c1e-9d2f-6a5b4c3d2e1f"));
        assert_eq!(kms_arn_region(ARN), Some("eu-west-1"));
        assert_eq!(
            kms_arn_region("arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/digests"),
            Some("us-gov-west-1")
        );
        assert_eq!(kms_arn_region("alias/digests"), None);
        assert_eq!(kms_arn_region("arn:aws:iam::123456789012:role/x"), None);
    }
}
