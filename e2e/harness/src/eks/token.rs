//! EKS bearer tokens, made in-process as `aws eks get-token` and aws-iam-authenticator make
//! them: an STS `GetCallerIdentity` request on the region's STS endpoint, presigned with
//! SigV4 for 60 seconds with the `x-k8s-aws-id: <cluster name>` header signed, then
//! `k8s-aws-v1.` + the URL in unpadded URL-safe base64. The API server's authenticator
//! replays the URL against STS, so whoever holds the token is the caller until it expires;
//! it is accepted for 15 minutes from its signing time, so clients replace it well before
//! that ([`REFRESH_AFTER`]).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine;

/// What every EKS token starts with.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The signed header naming the cluster the token is for.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// How long the presigned URL is valid (X-Amz-Expires), as `aws eks get-token` signs it.
pub const PRESIGN_EXPIRY: Duration = Duration::from_secs(60);
/// How long the API server accepts a token after its signing time.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// When a token is replaced: `aws eks get-token` reports 14 minutes; a minute less leaves
/// room for clock skew and a request in flight.
pub const REFRESH_AFTER: Duration = Duration::from_secs(13 * 60);

/// The STS endpoint of a region (the China partition has its own domain).
pub fn sts_host(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("sts.{region}.amazonaws.com.cn")
    } else {
        format!("sts.{region}.amazonaws.com")
    }
}

/// The presigned `GetCallerIdentity` URL for `cluster`, signed at `at`.
pub fn presigned_url(
    creds: &Credentials,
    region: &str,
    cluster: &str,
    at: SystemTime,
) -> Result<String, String> {
    let host = sts_host(region);
    let url = format!("https://{host}/?Action=GetCallerIdentity&Version=2011-06-15");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGN_EXPIRY);
    let identity = creds.clone().into();
    let params: aws_sigv4::http_request::SigningParams = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| format!("signing parameters: {e}"))?
        .into();
    let headers = [("host", host.as_str()), (CLUSTER_ID_HEADER, cluster)];
    let request = SignableRequest::new("GET", url.clone(), headers.into_iter(), SignableBody::Bytes(&[]))
        .map_err(|e| format!("the STS request: {e}"))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| format!("signing the STS request: {e}"))?
        .into_parts();
    let mut http = http::Request::builder()
        .uri(&url)
        .body(())
        .map_err(|e| format!("the STS request: {e}"))?;
    instructions.apply_to_request_http1x(&mut http);
    // the signature last, as botocore and the Go SDK write a presigned URL (the order does
    // not change what is signed: the canonical request sorts the query)
    let signed = http.uri().to_string();
    let (base, query) = signed.split_once('?').unwrap_or((signed.as_str(), ""));
    let (signature, rest): (Vec<&str>, Vec<&str>) =
        query.split('&').partition(|p| p.starts_with("X-Amz-Signature="));
    Ok(format!("{base}?{}", [rest, signature].concat().join("&")))
}

/// An EKS token for `cluster` signed at `at`.
pub fn token(creds: &Credentials, region: &str, cluster: &str, at: SystemTime) -> Result<String, String> {
    let url = presigned_url(creds, region, cluster, at)?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
    ))
}
