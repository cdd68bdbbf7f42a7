//! An independent SigV4 verifier (not the aws-sigv4 crate the worker signs
//! with), so the emulator is a real check of the worker's signing.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    /// No or malformed Authorization header.
    Missing(String),
    /// Unknown access key.
    UnknownKey(String),
    /// The signature does not match.
    Mismatch,
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Missing(_) => "IncompleteSignature",
            Rejection::UnknownKey(_) => "InvalidClientTokenId",
            Rejection::Mismatch => "SignatureDoesNotMatch",
        }
    }
    pub fn message(&self) -> String {
        match self {
            Rejection::Missing(why) => format!("Request is not signed correctly: {why}"),
            Rejection::UnknownKey(k) => format!("The security token included in the request is invalid: {k}"),
            Rejection::Mismatch => {
                "The request signature we calculated does not match the signature you provided.".into()
            }
        }
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// URI-encodes like SigV4: unreserved characters kept, the rest %XX.
fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Verifies a request's SigV4 signature for `service`.
pub fn verify(
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &http::HeaderMap,
    body: &[u8],
    service: &str,
    secrets: &HashMap<String, String>,
) -> Result<String, Rejection> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Rejection::Missing("no Authorization header".into()))?;
    let rest =
        auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| Rejection::Missing("not AWS4-HMAC-SHA256".into()))?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (credential, signed_headers, signature) = match (credential, signed_headers, signature) {
        (Some(c), Some(h), Some(s)) => (c, h, s),
        _ => return Err(Rejection::Missing("incomplete Authorization header".into())),
    };
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[4] != "aws4_request" {
        return Err(Rejection::Missing("bad credential scope".into()));
    }
    let (key_id, date, region, scope_service) = (scope[0], scope[1], scope[2], scope[3]);
    if scope_service != service {
        return Err(Rejection::Missing(format!("credential scope names service {scope_service}, not {service}")));
    }
    let secret = secrets.get(key_id).ok_or_else(|| Rejection::UnknownKey(key_id.to_string()))?;
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Rejection::Missing("no X-Amz-Date".into()))?;

    // Canonical URI: each segment encoded again (SigV4 for non-S3 services).
    let canonical_uri = if raw_path.is_empty() { "/".to_string() } else { uri_encode(raw_path, true) };
    let mut query: Vec<(String, String)> = raw_query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().to_string();
            (uri_encode(&dec(k), false), uri_encode(&dec(v), false))
        })
        .collect();
    query.sort();
    let canonical_query = query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';') {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(Rejection::Missing(format!("signed header {name} is absent")));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let payload_hash = match headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()) {
        Some(h) => h.to_string(),
        None => hex::encode(Sha256::digest(body)),
    };
    let canonical_request =
        format!("{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    let expected = hex::encode(hmac(&k_signing, string_to_sign.as_bytes()));
    if expected == signature {
        Ok(key_id.to_string())
    } else {
        Err(Rejection::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GET example of AWS's SigV4 test suite (get-vanilla), with the
    /// example credentials from AWS documentation.
    #[test]
    fn verifies_aws_get_vanilla_example() {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "example.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
                .parse()
                .unwrap(),
        );
        let secrets =
            HashMap::from([("AKIDEXAMPLE".to_string(), "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_string())]);
        assert_eq!(verify("GET", "/", None, &headers, b"", "service", &secrets), Ok("AKIDEXAMPLE".into()));
        let wrong = HashMap::from([("AKIDEXAMPLE".to_string(), "not-the-secret".to_string())]);
        assert_eq!(verify("GET", "/", None, &headers, b"", "service", &wrong), Err(Rejection::Mismatch));
    }
}
