//! Signer: the run's one AWS identity, and the one SigV4 signer that both
//! the complete-file download (service `rds`, signed headers) and the RDS
//! IAM database token (service `rds-db`, presigned query) use.

use crate::error::Failure;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningInstructions, SigningSettings,
};
use aws_sigv4::sign::v4;
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex;

/// Who the run is to AWS: its credentials (cached until five minutes before
/// they expire) and its region.
pub struct AwsIdentity {
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<Credentials>>,
    region: String,
}

impl AwsIdentity {
    pub fn new(provider: SharedCredentialsProvider, region: &str) -> Self {
        AwsIdentity { provider, cached: Mutex::new(None), region: region.to_string() }
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Current AWS credentials (cached until 5 minutes before they expire).
    pub async fn credentials(&self) -> Result<Credentials, Failure> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            let fresh = c.expiry().is_none_or(|exp| exp > SystemTime::now() + Duration::from_secs(300));
            if fresh {
                return Ok(c.clone());
            }
        }
        let c = self.provider.provide_credentials().await.map_err(refresh_failed)?;
        *cached = Some(c.clone());
        Ok(c)
    }
}

/// A credentials refresh that failed: refused (an assumed role's trust
/// policy, expired or revoked keys) needs a person; anything else (STS
/// throttled or not answering) is transient.
fn refresh_failed(e: aws_credential_types::provider::error::CredentialsError) -> Failure {
    let why = crate::aws::error_chain(&e);
    let message = format!("cannot refresh the AWS credentials: {why}");
    if crate::aws::refused_credentials(&why) {
        Failure::needs_person(message)
    } else {
        Failure::transient(message)
    }
}

/// Where the signature goes.
#[derive(Debug, Clone, Copy)]
pub enum Placement {
    /// `Authorization` and `X-Amz-*` headers.
    Headers,
    /// Query parameters, valid for this long (a presigned URL).
    Query { expires_in: Duration },
}

/// Signs a GET of `url` (whose `headers` are signed too) for `service`.
pub fn sign_get(
    credentials: &Credentials,
    region: &str,
    service: &str,
    url: &str,
    headers: &[(&str, &str)],
    placement: Placement,
    at: SystemTime,
) -> Result<SigningInstructions, Failure> {
    let mut settings = SigningSettings::default();
    if let Placement::Query { expires_in } = placement {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires_in);
    }
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(at)
        .settings(settings)
        .build()
        .expect("complete signing params")
        .into();
    let unsigned = |e: &dyn std::fmt::Display| Failure::needs_person(format!("cannot sign a request for {url}: {e}"));
    let signable = SignableRequest::new("GET", url, headers.iter().copied(), SignableBody::Bytes(&[]))
        .map_err(|e| unsigned(&e))?;
    Ok(sign(signable, &params).map_err(|e| unsigned(&e))?.into_parts().0)
}
