//! AWS clients and how their errors map to failure kinds.
//!
//! Every AWS call's error passes through `classify`, so throttling is
//! transient, a denied action needs a person, and the message names the
//! service's error code and text.

use crate::config::{AssumeRole, Config};
use crate::error::{Failure, FailureKind};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use std::time::Duration;

/// Loads region and credentials the standard way (env, profile, SSO, ECS
/// task role, IMDS), and fails early with a clear message when there are
/// none: an SDK call without credentials fails with a much vaguer error.
pub async fn load_sdk_config(cfg: &Config) -> Result<SdkConfig, Failure> {
    let overridden = cfg.s3_endpoint_url.is_some()
        || cfg.rds_endpoint_url.is_some()
        || cfg.sts_endpoint_url.is_some()
        || cfg.kms_endpoint_url.is_some()
        || std::env::vars_os().any(|(k, _)| k.to_string_lossy().starts_with("AWS_ENDPOINT_URL"));
    ENDPOINT_CHOSEN_BY_HAND.store(overridden, std::sync::atomic::Ordering::Relaxed);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        // Adaptive retry backs off when the account's RDS token bucket
        // (~12 requests/s, shared with the console and Terraform) runs dry.
        .retry_config(RetryConfig::adaptive().with_max_attempts(cfg.max_attempts))
        // No call may hang the job: an S3 or RDS request that gets no
        // answer is abandoned and retried like any transient failure.
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(cfg.read_timeout)
                .build(),
        );
    if let Some(region) = &cfg.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let sdk = loader.load().await;
    if sdk.region().is_none() {
        return Err(Failure::needs_person("no AWS region configured: pass --region or set AWS_REGION"));
    }
    let provider = sdk.credentials_provider().ok_or_else(|| {
        Failure::needs_person("no AWS credentials provider available: set AWS credentials (env, profile, or task role)")
    })?;
    provider.provide_credentials().await.map_err(|e| {
        tracing::debug!(error = %DisplayErrorContext(&e), "loading AWS credentials failed");
        let why = match e {
            aws_credential_types::provider::error::CredentialsError::CredentialsNotLoaded(_) => {
                "none found in the environment, a profile, a web identity token, the ECS task role or instance metadata"
                    .to_string()
            }
            other => error_chain(&other).lines().map(str::trim).collect::<Vec<_>>().join("; "),
        };
        Failure::needs_person(format!(
            "no usable AWS credentials ({why}): set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or give \
             the task a role; check with `aws sts get-caller-identity`"
        ))
    })?;
    Ok(sdk)
}

/// The configuration the instances are read with: `sdk` itself, or with
/// `--assume-role` the role's credentials (from STS, refreshed before they
/// expire), checked at once so a trust policy that refuses the task is
/// one clear line before any work.
pub async fn instances_config(sdk: &SdkConfig, cfg: &Config) -> Result<SdkConfig, Failure> {
    match &cfg.assume_role {
        Some(role) => assumed_config(sdk, cfg, role).await,
        None => Ok(sdk.clone()),
    }
}

/// `sdk` with `role`'s credentials (from STS, refreshed before they
/// expire), tried at once.
pub async fn assumed_config(sdk: &SdkConfig, cfg: &Config, role: &AssumeRole) -> Result<SdkConfig, Failure> {
    let mut sts = sdk.to_builder();
    if let Some(url) = &cfg.sts_endpoint_url {
        sts = sts.endpoint_url(url);
    }
    let mut builder = aws_config::sts::AssumeRoleProvider::builder(&role.arn)
        .session_name(&role.session_name)
        .configure(&sts.build());
    if let Some(id) = &role.external_id {
        builder = builder.external_id(id);
    }
    let provider = builder.build().await;
    if let Err(e) = provider.provide_credentials().await {
        tracing::debug!(error = %DisplayErrorContext(&e), role = %role.arn, "assuming the role failed");
        return Err(cannot_assume(&role.arn, &e));
    }
    let provider = aws_credential_types::provider::SharedCredentialsProvider::new(provider);
    Ok(sdk.to_builder().credentials_provider(provider).build())
}

/// Why a role could not be assumed, in one line with the fix. STS refusing
/// (a trust policy, an external id) needs a person; no answer is transient.
fn cannot_assume(arn: &str, e: &aws_credential_types::provider::error::CredentialsError) -> Failure {
    use aws_credential_types::provider::error::CredentialsError;
    let why = error_chain(e).lines().map(str::trim).collect::<Vec<_>>().join("; ");
    // The provider wraps every STS failure alike: STS's own refusals are
    // told apart by their codes; anything else (no answer) is transient.
    let refused = matches!(e, CredentialsError::InvalidConfiguration(_)) || refused_credentials(&why);
    let message = format!(
        "cannot assume role {arn} ({why}): the role's trust policy must allow this task's role to call \
         sts:AssumeRole (with the external id, if it asks for one), and this task's role must allow sts:AssumeRole \
         on it; check with `aws sts assume-role --role-arn {arn} --role-session-name check`"
    );
    if refused {
        Failure::needs_person(message)
    } else {
        Failure::transient(message)
    }
}

pub fn rds_client(sdk: &SdkConfig, cfg: &Config) -> aws_sdk_rds::Client {
    let mut b = aws_sdk_rds::config::Builder::from(sdk).interceptor(announce(cfg));
    if let Some(url) = &cfg.rds_endpoint_url {
        b = b.endpoint_url(url);
    }
    aws_sdk_rds::Client::from_conf(b.build())
}

pub fn s3_client(sdk: &SdkConfig, cfg: &Config) -> aws_sdk_s3::Client {
    s3_client_in(sdk, cfg, cfg.bucket_region.as_deref())
}

/// An S3 client for a bucket in `region` (`None`: the configuration's).
pub fn s3_client_in(sdk: &SdkConfig, cfg: &Config, region: Option<&str>) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(sdk).interceptor(announce(cfg));
    if let Some(region) = region {
        b = b.region(Region::new(region.to_string()));
    }
    if let Some(url) = &cfg.s3_endpoint_url {
        // Custom endpoints (local servers, some gateways) serve path-style.
        b = b.endpoint_url(url).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

/// KMS, with the task's own credentials (never --assume-role's: the
/// signing key belongs with the bucket), in the region of a key given by
/// ARN: KMS answers only in the key's own region.
pub fn kms_client(sdk: &SdkConfig, cfg: &Config, key_id: &str) -> aws_sdk_kms::Client {
    let mut b = aws_sdk_kms::config::Builder::from(sdk).interceptor(announce(cfg));
    if let Some(region) = crate::evidence::signing::kms_arn_region(key_id) {
        b = b.region(Region::new(region.to_string()));
    }
    if let Some(url) = &cfg.kms_endpoint_url {
        b = b.endpoint_url(url);
    }
    aws_sdk_kms::Client::from_conf(b.build())
}

fn announce(cfg: &Config) -> AnnounceWaits {
    AnnounceWaits { read_timeout: cfg.read_timeout, max_attempts: cfg.max_attempts }
}

/// Error codes that mean "slow down or try again".
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "ConditionalRequestConflict",
];

/// Whether a credentials failure, in words, is a refusal (a trust policy,
/// an external id, revoked or expired keys) rather than no answer.
pub fn refused_credentials(why: &str) -> bool {
    [
        "AccessDenied",
        "not authorized",
        "InvalidClientTokenId",
        "ExpiredToken",
        "SignatureDoesNotMatch",
        "ValidationError",
    ]
    .iter()
    .any(|code| why.contains(code))
}

/// The codes of an answer that asks to slow down (retried by the SDK after
/// its rate limiter's wait).
const THROTTLING_CODES: &[&str] =
    &["Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "SlowDown"];

/// Whether an RDS error code says no instance has the identifier.
pub fn instance_not_found(code: Option<&str>) -> bool {
    matches!(code, Some("DBInstanceNotFound" | "DBInstanceNotFoundFault"))
}

/// An SDK error's HTTP status, if a response arrived.
pub fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// Classifies an SDK error and words it as `{code}: {message}`, or, when
/// no answer came, as what kept it from coming.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = err.code().unwrap_or("");
    let status = status_of(err);
    if status.is_none() {
        if let Some(f) = no_answer(err) {
            return f;
        }
    }
    let text = match (err.code(), err.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => match status {
            // The parser's account of the body (a dump of XML events) is
            // for a debug log, not for a person.
            Some(s @ 200..=299) => {
                tracing::debug!(status = s, error = %error_chain(err), "an answer that is not the call's response");
                format!(
                    "the endpoint answered HTTP {s} with a body that is not this call's response (an S3- or \
                     RDS-compatible endpoint that does not implement the call?; -v shows the body's parse error)"
                )
            }
            Some(s) => format!("HTTP {s}: {}", error_chain(err)),
            None => error_chain(err),
        },
    };
    let kind = match err {
        SdkError::ConstructionFailure(_) => FailureKind::NeedsPerson,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => FailureKind::Transient,
        _ if TRANSIENT_CODES.contains(&code) => FailureKind::Transient,
        _ => match status {
            // A success status whose body could not be read as the
            // operation's answer: nothing to fix by hand, try again.
            Some(200..=299) => FailureKind::Transient,
            Some(429) => FailureKind::Transient,
            Some(s) if s >= 500 => FailureKind::Transient,
            Some(_) => FailureKind::NeedsPerson,
            None => FailureKind::Transient,
        },
    };
    Failure { kind, message: text, abandoned: false }
}

/// An endpoint URL was given by hand (a flag or AWS_ENDPOINT_URL*): an
/// endpoint that cannot be reached is then most likely a wrong URL. AWS's
/// own endpoints that cannot be reached are a network matter, transient.
static ENDPOINT_CHOSEN_BY_HAND: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Why a request got no answer, in words: an endpoint that cannot be
/// reached (see `unreachable_endpoint`), or a timeout (transient). `None`:
/// none of these (a reset, say), worded by the caller.
fn no_answer<E, R>(err: &SdkError<E, R>) -> Option<Failure>
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match err {
        SdkError::TimeoutError(_) => Some(Failure::transient(
            "no answer within the read timeout (--read-timeout-seconds): the endpoint is slow or not answering",
        )),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            Some(Failure::transient("could not connect within 10 s: the endpoint or the network path is down"))
        }
        _ => unreachable_endpoint(err),
    }
}

/// An endpoint that cannot be reached, from an error's chain: the cause in
/// words and the fix. With an endpoint URL given by hand, a cause no retry
/// fixes (nothing listens there, its host name does not exist, it does not
/// speak TLS, its certificate is not trusted) needs a person; otherwise,
/// and for a lookup that failed for the moment, it is transient.
pub fn unreachable_endpoint(err: &(dyn std::error::Error + 'static)) -> Option<Failure> {
    unreachable(err, ENDPOINT_CHOSEN_BY_HAND.load(std::sync::atomic::Ordering::Relaxed))
}

fn unreachable(err: &(dyn std::error::Error + 'static), by_hand: bool) -> Option<Failure> {
    let fix = if by_hand {
        "check the endpoint URL (--s3-endpoint-url / --rds-endpoint-url / --kms-endpoint-url, \
         AUDITSHIP_S3_ENDPOINT_URL / AUDITSHIP_RDS_ENDPOINT_URL / AUDITSHIP_KMS_ENDPOINT_URL, or the \
         AWS_ENDPOINT_URL* variables) and the network path"
    } else {
        "check the network path to AWS (VPC endpoints, NAT, proxy, DNS); the next run retries"
    };
    let mut chain = String::new();
    let mut refused = false;
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = at {
        refused |=
            e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
        chain.push_str(&e.to_string().to_ascii_lowercase());
        chain.push('\n');
        at = e.source();
    }
    let for_now = ["temporary failure", "try again"].iter().any(|s| chain.contains(s));
    let (cause, lasting) = if refused || chain.contains("connection refused") {
        ("the connection was refused: nothing listens at that address and port", true)
    } else if ["dns error", "failed to lookup address", "name or service not known", "no such host"]
        .iter()
        .any(|s| chain.contains(s))
    {
        ("the endpoint's host name does not resolve", !for_now)
    } else if ["invalidcontenttype", "corrupt message", "wrong version number"].iter().any(|s| chain.contains(s)) {
        ("the TLS handshake failed: an https:// URL for an endpoint that speaks plain HTTP, or something else in the way", true)
    } else if ["invalid peer certificate", "unknownissuer", "certificate not valid"].iter().any(|s| chain.contains(s)) {
        ("the endpoint's TLS certificate is not trusted", true)
    } else {
        return None;
    };
    let message = format!("cannot reach the endpoint: {cause}; {fix}");
    Some(if by_hand && lasting { Failure::needs_person(message) } else { Failure::transient(message) })
}

/// An error and its sources, in words (no debug structures).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = at {
        let text = e.to_string();
        // Wrappers often repeat their source's words.
        if !words.last().is_some_and(|last| last.contains(&text)) && !text.is_empty() {
            words.push(text);
        }
        at = e.source();
    }
    words.join(": ")
}

/// The hint that goes with a denied or unauthenticated call.
pub fn permission_hint(action: &str) -> String {
    format!("check the credentials and that the role allows {action}")
}

/// An AWS call waited for this long without an answer: say so.
const SILENCE: std::time::Duration = std::time::Duration::from_secs(2);
/// And again this often while it still waits.
const SILENCE_REPEAT: std::time::Duration = std::time::Duration::from_secs(10);
/// A call that sends an object's bytes takes its time sending them: it is
/// said to wait only after this long.
const SENDING_SILENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether a call's time goes into sending a body (an upload).
fn sends_a_body(call: &str) -> bool {
    ["PutObject", "UploadPart"].iter().any(|op| call.ends_with(op))
}

/// Says what an AWS call waits for, so no one waits in silence: a line once
/// a call (its attempts, backoff and the SDK's rate limiting together) has
/// had no answer for `SILENCE`, and one for each attempt that failed with
/// something the SDK retries (no answer, a broken connection, 5xx,
/// throttling).
#[derive(Debug)]
pub struct AnnounceWaits {
    pub read_timeout: std::time::Duration,
    pub max_attempts: u32,
}

/// What a call waits for: its name, and whether it is backing off after a
/// failed attempt (throttled: the SDK's rate limiter holds the next one).
#[derive(Debug, Default)]
pub struct Waiting {
    pub call: String,
    pub backing_off_after: Option<String>,
}

pub type SharedWaiting = std::sync::Arc<std::sync::Mutex<Waiting>>;

impl Waiting {
    pub fn shared(call: String) -> SharedWaiting {
        std::sync::Arc::new(std::sync::Mutex::new(Waiting { call, backing_off_after: None }))
    }
}

/// Starts a task that says, after `SILENCE` and then every
/// `SILENCE_REPEAT`, that `what` has had no answer yet (or is backing off);
/// it stops when the returned guard is dropped (or aborted), once the
/// answer comes. Outside a runtime it says nothing.
pub fn say_while_waiting(what: SharedWaiting, attempt_timeout: std::time::Duration, attempts: u32) -> AbortOnDrop {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return AbortOnDrop(None) };
    let timeout = attempt_timeout.as_secs();
    let task = runtime.spawn(async move {
        let mut waited = SILENCE;
        tokio::time::sleep(SILENCE).await;
        loop {
            let (call, backing_off) =
                what.lock().map(|w| (w.call.clone(), w.backing_off_after.clone())).unwrap_or_default();
            let quiet_for = if sends_a_body(&call) { SENDING_SILENCE } else { SILENCE };
            let pause = if waited < quiet_for {
                quiet_for - waited
            } else {
                let secs = waited.as_secs();
                match backing_off {
                    Some(cause) => tracing::warn!(
                        call = %call, waited_s = secs, cause = %cause, attempts,
                        "{call}: still waiting after {secs}s: the last attempt failed ({cause}), and the next waits \
                         for the SDK's rate limiter ({attempts} attempts in all)"
                    ),
                    None => tracing::warn!(
                        call = %call, waited_s = secs, attempt_timeout_s = timeout, attempts,
                        "{call}: no answer yet after {secs}s; each attempt waits up to {timeout}s, {attempts} attempts"
                    ),
                }
                SILENCE_REPEAT
            };
            tokio::time::sleep(pause).await;
            waited += pause;
        }
    });
    AbortOnDrop(Some(task.abort_handle()))
}

/// Aborts a task when dropped.
#[derive(Debug)]
pub struct AbortOnDrop(Option<tokio::task::AbortHandle>);

impl AbortOnDrop {
    pub fn abort(&self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.abort();
    }
}

/// The line-printing task of one call, and the call's name (known once
/// its first attempt starts); dropped (with the call's config bag, also
/// when the call is abandoned) it stops.
#[derive(Debug)]
struct Watch(AbortOnDrop, SharedWaiting);

impl aws_smithy_types::config_bag::Storable for Watch {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

fn call_name(cfg: &aws_smithy_types::config_bag::ConfigBag) -> String {
    use aws_smithy_runtime_api::client::orchestrator::Metadata;
    cfg.load::<Metadata>().map_or_else(|| "an AWS call".to_string(), |m| format!("{} {}", m.service(), m.name()))
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for AnnounceWaits {
    fn name(&self) -> &'static str {
        "AnnounceWaits"
    }

    fn read_before_execution(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let name = Waiting::shared(call_name(cfg));
        let task = say_while_waiting(name.clone(), self.read_timeout, self.max_attempts);
        cfg.interceptor_state().store_put(Watch(task, name));
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(Ok(mut waiting)) = cfg.load::<Watch>().map(|w| w.1.lock()) {
            *waiting = Waiting { call: call_name(cfg), backing_off_after: None };
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        use aws_smithy_runtime_api::client::retries::RequestAttempts;
        let Some(Err(error)) = context.output_or_error() else { return Ok(()) };
        let status = context.response().map(|r| r.status().as_u16());
        // Throttling answers 400 with its code in the body (RDS's
        // `Throttling`): the SDK retries it, so it is said too.
        let throttled = context
            .response()
            .and_then(|r| r.body().bytes())
            .map(String::from_utf8_lossy)
            .and_then(|body| THROTTLING_CODES.iter().find(|code| body.contains(&format!(">{code}<"))).copied());
        let retried = error.is_timeout_error()
            || error.is_connector_error()
            || throttled.is_some()
            || status.is_some_and(|s| s == 429 || s >= 500);
        let attempt = cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts());
        if retried && attempt < self.max_attempts {
            let cause = match (status, throttled) {
                (Some(s), Some(code)) => format!("HTTP {s} {code}"),
                (Some(s), None) => format!("HTTP {s}"),
                (None, _) if error.is_timeout_error() => format!("no answer within {}s", self.read_timeout.as_secs()),
                (None, _) => error_chain(error),
            };
            tracing::warn!(
                call = %call_name(cfg), attempt, of = self.max_attempts, cause = %cause,
                "{}: attempt {attempt} of {} failed ({cause}); trying again", call_name(cfg), self.max_attempts
            );
            if let Some(Ok(mut waiting)) = cfg.load::<Watch>().map(|w| w.1.lock()) {
                waiting.backing_off_after = throttled.map(|_| cause.clone());
            }
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(watch) = cfg.load::<Watch>() {
            watch.0.abort();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Said(&'static str);
    impl std::fmt::Display for Said {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Said {}

    /// A wrong URL given by hand needs a person; AWS's own endpoint out of
    /// reach, or a lookup that failed for the moment, is retried by the
    /// next run.
    #[test]
    fn an_unreachable_endpoint_needs_a_person_only_when_its_url_was_given_by_hand() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(unreachable(&refused, true).map(|f| f.kind), Some(FailureKind::NeedsPerson));
        assert_eq!(unreachable(&refused, false).map(|f| f.kind), Some(FailureKind::Transient));
        let gone = Said("dns error: failed to lookup address information: Name or service not known");
        assert_eq!(unreachable(&gone, true).map(|f| f.kind), Some(FailureKind::NeedsPerson));
        let for_now = Said("dns error: failed to lookup address information: Temporary failure in name resolution");
        assert_eq!(unreachable(&for_now, true).map(|f| f.kind), Some(FailureKind::Transient));
        let plain = Said("received corrupt message of type InvalidContentType");
        assert!(unreachable(&plain, true).is_some_and(|f| f.message.contains("https:// URL")));
        // A connection that broke off mid-handshake is not a wrong URL.
        assert!(unreachable(&Said("tls handshake eof"), true).is_none());
        assert!(unreachable(&Said("connection reset by peer"), true).is_none());
    }
}
