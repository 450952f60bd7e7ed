//! The janitor's EC2 calls over EC2's Query API, without aws-sdk-ec2 (one generated crate
//! for all of EC2's operations, which took 10-15 minutes of every CI build, longer on a busy
//! machine, for the 19 the janitor makes).
//!
//! A call is a POST of `Action=…&Version=2016-11-15&…`, form-encoded, to the regional
//! endpoint, signed with SigV4 (service `ec2`). Parameters are flattened as EC2 reads them
//! ([`Params`]): a list as `NatGatewayId.1`, `NatGatewayId.2`, a list of structures as
//! `Filter.1.Name`, `Filter.1.Value.1`. The answer is XML, read as an [`Element`] tree; a
//! failure is EC2's error document, `<Response><Errors><Error>` with its `<Code>` and
//! `<Message>`, and the `<RequestID>` ([`Error::Api`]).
//!
//! As the SDK's clients do with the same configuration: the endpoint is the one configured
//! for EC2 (`AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL`, the profile's `endpoint_url`, or
//! one given to the `SdkConfig`), else `https://ec2.<region>.amazonaws.com`; credentials
//! come from the configuration's provider (asked for every request: the janitor's keeps them,
//! [`super::sharing_credentials`]); throttling, 5xx answers and failed connections are
//! retried with the configuration's attempts and exponential backoff with jitter.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use quick_xml::events::Event;

/// The API version every request names (EC2 has had no other since 2016).
pub const API_VERSION: &str = "2016-11-15";
/// The body's content type, as the SDKs send it.
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// One attempt's time limit.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest answer read.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Error codes retried as throttling or transient (the AWS SDKs' lists).
const RETRIED_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// A request's parameters, in order, flattened as EC2 reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new() -> Params {
        Params::default()
    }

    /// `key=value`.
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Params {
        self.0.push((key.to_string(), value.into()));
        self
    }

    /// `key.1=…`, `key.2=…`, numbered on from what `key` already has.
    pub fn list<S: Into<String>>(mut self, key: &str, values: impl IntoIterator<Item = S>) -> Params {
        for (n, v) in (self.next_index(key)..).zip(values) {
            self.0.push((format!("{key}.{n}"), v.into()));
        }
        self
    }

    /// Structures as a list: `key.1.<their keys>`, `key.2.…`, numbered on from what `key`
    /// already has.
    pub fn structs(mut self, key: &str, items: impl IntoIterator<Item = Params>) -> Params {
        for (n, item) in (self.next_index(key)..).zip(items) {
            for (k, v) in item.0 {
                self.0.push((format!("{key}.{n}.{k}"), v));
            }
        }
        self
    }

    /// One `Filter.N` (appended to those already set): its name and the values it accepts.
    pub fn filter<S: Into<String>>(self, name: &str, values: impl IntoIterator<Item = S>) -> Params {
        let filter = Params::new().set("Name", name).list("Value", values);
        self.structs("Filter", [filter])
    }

    /// `Tag.N.Key`/`Tag.N.Value` (CreateTags).
    pub fn tags<'a>(self, tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Params {
        let tags = tags
            .into_iter()
            .map(|(k, v)| Params::new().set("Key", k).set("Value", v));
        self.structs("Tag", tags)
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    fn next_index(&self, key: &str) -> usize {
        self.0
            .iter()
            .filter_map(|(k, _)| k.strip_prefix(key)?.strip_prefix('.'))
            .filter_map(|rest| rest.split('.').next()?.parse::<usize>().ok())
            .max()
            .unwrap_or(0)
            + 1
    }
}

/// The form-encoded body of `action` with `params`: `Action` and `Version` first, every key
/// and value percent-encoded but for the characters SigV4 leaves alone (`A-Z a-z 0-9 - _ . ~`).
pub fn body(action: &str, params: &Params) -> String {
    let mut out = format!("Action={}&Version={API_VERSION}", encode(action));
    for (k, v) in &params.0 {
        out.push('&');
        out.push_str(&encode(k));
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A rule of DescribeSecurityGroups (an `item` of `ipPermissions` or
/// `ipPermissionsEgress`) as the `IpPermissions.N` structure that revokes it: every field
/// EC2 gave, under its request name.
pub fn ip_permission(rule: &Element) -> Params {
    const FIELDS: [(&str, &str); 3] = [
        ("ipProtocol", "IpProtocol"),
        ("fromPort", "FromPort"),
        ("toPort", "ToPort"),
    ];
    type Fields = &'static [(&'static str, &'static str)];
    const LISTS: [(&str, &str, Fields); 4] = [
        (
            "groups",
            "Groups",
            &[
                ("userId", "UserId"),
                ("groupId", "GroupId"),
                ("groupName", "GroupName"),
                ("vpcId", "VpcId"),
                ("vpcPeeringConnectionId", "VpcPeeringConnectionId"),
                ("peeringStatus", "PeeringStatus"),
                ("description", "Description"),
            ],
        ),
        (
            "ipRanges",
            "IpRanges",
            &[("cidrIp", "CidrIp"), ("description", "Description")],
        ),
        (
            "ipv6Ranges",
            "Ipv6Ranges",
            &[("cidrIpv6", "CidrIpv6"), ("description", "Description")],
        ),
        (
            "prefixListIds",
            "PrefixListIds",
            &[("prefixListId", "PrefixListId"), ("description", "Description")],
        ),
    ];
    let copy = |from: &Element, fields: Fields| {
        fields
            .iter()
            .fold(Params::new(), |p, (xml, param)| match from.get(xml) {
                Some(v) => p.set(param, v),
                None => p,
            })
    };
    let mut out = copy(rule, &FIELDS);
    for (xml, param, fields) in LISTS {
        out = out.structs(param, rule.items(xml).map(|item| copy(item, fields)));
    }
    out
}

/// An XML element: its local name, its text, its child elements.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The document's root element.
    pub fn parse(xml: &[u8]) -> Result<Element, String> {
        let xml = std::str::from_utf8(xml).map_err(|e| format!("not UTF-8: {e}"))?;
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut open: Vec<Element> = Vec::new();
        let mut root: Option<Element> = None;
        let mut close = |open: &mut Vec<Element>, el: Element| match open.last_mut() {
            Some(parent) => {
                parent.children.push(el);
                Ok(())
            }
            None if root.is_none() => {
                root = Some(el);
                Ok(())
            }
            None => Err(format!("a second root element <{}>", el.name)),
        };
        let name = |raw: &[u8]| {
            std::str::from_utf8(raw)
                .map(String::from)
                .map_err(|e| format!("an element name is not UTF-8: {e}"))
        };
        loop {
            let at = reader.buffer_position();
            let event = reader.read_event().map_err(|e| format!("at byte {at}: {e}"))?;
            let bad = |e: &dyn std::fmt::Display| format!("at byte {at}: {e}");
            match event {
                Event::Start(e) => open.push(Element {
                    name: name(e.local_name().as_ref())?,
                    ..Element::default()
                }),
                Event::Empty(e) => close(
                    &mut open,
                    Element {
                        name: name(e.local_name().as_ref())?,
                        ..Element::default()
                    },
                )?,
                Event::End(_) => {
                    let el = open.pop().ok_or_else(|| bad(&"an end tag without a start"))?;
                    close(&mut open, el)?;
                }
                Event::Text(t) => {
                    if let Some(el) = open.last_mut() {
                        el.text.push_str(&t.decode().map_err(|e| bad(&e))?);
                    }
                }
                Event::CData(t) => {
                    if let Some(el) = open.last_mut() {
                        el.text.push_str(&t.decode().map_err(|e| bad(&e))?);
                    }
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref().map_err(|e| bad(&e))? {
                        Some(c) => c.to_string(),
                        None => {
                            let entity = r.decode().map_err(|e| bad(&e))?;
                            quick_xml::escape::resolve_predefined_entity(&entity)
                                .ok_or_else(|| bad(&format!("unknown entity &{entity};")))?
                                .to_string()
                        }
                    };
                    if let Some(el) = open.last_mut() {
                        el.text.push_str(&resolved);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if let Some(el) = open.last() {
            return Err(format!("the document ends inside <{}>", el.name));
        }
        root.ok_or_else(|| "no element".to_string())
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The `item`s of the list named `name` (`<name><item>…</item>…</name>`, EC2's lists).
    pub fn items<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Element> + 'a {
        self.child(name)
            .into_iter()
            .flat_map(|list| list.children.iter().filter(|c| c.name == "item"))
    }

    /// The `tagSet` as a map.
    pub fn tags(&self) -> BTreeMap<String, String> {
        self.items("tagSet")
            .filter_map(|t| Some((t.get("key")?.to_string(), t.get("value")?.to_string())))
            .collect()
    }
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// EC2's error document.
    Api {
        code: String,
        message: String,
        request_id: Option<String>,
        status: u16,
    },
    /// No answer, an answer that is not EC2's, or nothing to sign with.
    Other(String),
}

impl Error {
    /// EC2's error code, if EC2 answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            Error::Other(_) => None,
        }
    }

    /// The error of a non-2xx answer: EC2's error document, or the status and the start of
    /// whatever else came back.
    pub fn from_response(status: u16, body: &[u8]) -> Error {
        if let Ok(root) = Element::parse(body)
            && root.name == "Response"
            && let Some(e) = root.child("Errors").and_then(|e| e.child("Error"))
            && let Some(code) = e.get("Code")
        {
            return Error::Api {
                code: code.to_string(),
                message: e.get("Message").unwrap_or_default().to_string(),
                request_id: root.get("RequestID").map(String::from),
                status,
            };
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let mut excerpt: String = text.chars().take(200).collect();
        if excerpt.len() < text.len() {
            excerpt.push('…');
        }
        if excerpt.is_empty() {
            Error::Other(format!("HTTP {status} without a body"))
        } else {
            Error::Other(format!("HTTP {status}: {excerpt}"))
        }
    }
}

/// Whether an answer with `status` and error `e` is worth another attempt: throttling,
/// a request that timed out, or the server's fault (as the SDKs' standard retries).
fn retried(e: &Error, status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504) || e.code().is_some_and(|c| RETRIED_CODES.contains(&c))
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Api {
                code,
                message,
                request_id,
                ..
            } => {
                write!(f, "{code}")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                if let Some(id) = request_id {
                    write!(f, " (request id {id})")?;
                }
                Ok(())
            }
            Error::Other(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for Error {}

type Https = hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How often and how patiently a failed attempt is repeated.
#[derive(Clone, Copy, Debug)]
struct Retry {
    attempts: u32,
    initial: Duration,
    max: Duration,
}

/// An EC2 client of one region.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    region: Option<String>,
    endpoint: Option<String>,
    credentials: Option<SharedCredentialsProvider>,
    retry: Retry,
    http: Result<Https, String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ec2::Client")
            .field("region", &self.inner.region)
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

/// The endpoint configured for EC2, as the SDK's clients find it: one given to the
/// `SdkConfig` in code, else EC2's own (`AWS_ENDPOINT_URL_EC2`, the profile's `services`
/// section), else the general one (`AWS_ENDPOINT_URL`, the profile's `endpoint_url`).
fn configured_endpoint(sdk: &aws_config::SdkConfig) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(String::from);
    }
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id("EC2")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok();
    key.and_then(|k| sdk.service_config()?.load_config(k))
        .or_else(|| sdk.endpoint_url().map(String::from))
}

/// EC2's public endpoint in `region` (the China partition has its own domain).
pub fn regional_endpoint(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("https://ec2.{region}.amazonaws.com.cn")
    } else {
        format!("https://ec2.{region}.amazonaws.com")
    }
}

fn https() -> Result<Https, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    Ok(hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector))
}

/// `req` signed for EC2 in `region` at `at` (SigV4: `content-type`, `host`, `x-amz-date`
/// and, with temporary credentials, `x-amz-security-token` signed; the body hashed).
pub fn sign_request(
    req: &mut http::Request<Full<Bytes>>,
    body: &[u8],
    creds: &Credentials,
    region: &str,
    at: SystemTime,
) -> Result<(), String> {
    let identity = creds.clone().into();
    let params: aws_sigv4::http_request::SigningParams = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("ec2")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("signing parameters: {e}"))?
        .into();
    let headers = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
    let signable = SignableRequest::new(
        req.method().as_str(),
        req.uri().to_string(),
        headers,
        SignableBody::Bytes(body),
    )
    .map_err(|e| format!("the request cannot be signed: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("signing the request: {e}"))?
        .into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(())
}

/// The POST of `body` to `url`, unsigned.
pub fn request(url: &str, body: &str) -> Result<http::Request<Full<Bytes>>, String> {
    http::Request::builder()
        .method(http::Method::POST)
        .uri(url)
        .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| format!("invalid request to {url}: {e}"))
}

impl Client {
    /// A client of `sdk`'s region, endpoint, credentials and retry settings.
    pub fn new(sdk: &aws_config::SdkConfig) -> Client {
        let retry = match sdk.retry_config() {
            Some(r) => Retry {
                attempts: r.max_attempts().max(1),
                initial: r.initial_backoff(),
                max: r.max_backoff(),
            },
            None => Retry {
                attempts: 3,
                initial: Duration::from_secs(1),
                max: Duration::from_secs(20),
            },
        };
        Client {
            inner: Arc::new(Inner {
                region: sdk.region().map(|r| r.to_string()),
                endpoint: configured_endpoint(sdk),
                credentials: sdk.credentials_provider(),
                retry,
                http: https(),
            }),
        }
    }

    /// Calls `action` with `params`; the answer's root element
    /// (`<{action}Response>`).
    pub async fn call(&self, action: &str, params: Params) -> Result<Element, Error> {
        let retry = self.inner.retry;
        let mut attempt = 1;
        loop {
            match self.attempt(action, &params).await {
                Err(Attempt::Again(e)) | Err(Attempt::Final(e)) if attempt >= retry.attempts => {
                    return Err(e);
                }
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::Again(_)) => {
                    // full jitter on an exponential backoff, as the SDKs' standard strategy
                    let base = retry.initial.saturating_mul(1 << (attempt - 1).min(16));
                    tokio::time::sleep(base.min(retry.max).mul_f64(fastrand::f64())).await;
                    attempt += 1;
                }
                Ok(doc) => return Ok(doc),
            }
        }
    }

    /// Calls `action` page by page (`NextToken`) until the last; the `item`s of each page's
    /// list `list` (e.g. `natGatewaySet`).
    pub async fn call_all(&self, action: &str, params: Params, list: &str) -> Result<Vec<Element>, Error> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = match &token {
                Some(t) => params.clone().set("NextToken", t.clone()),
                None => params.clone(),
            };
            let mut doc = self.call(action, page).await?;
            token = doc.get("nextToken").filter(|t| !t.is_empty()).map(String::from);
            if let Some(pos) = doc.children.iter().position(|c| c.name == list) {
                let list = doc.children.swap_remove(pos);
                items.extend(list.children.into_iter().filter(|c| c.name == "item"));
            }
            if token.is_none() {
                return Ok(items);
            }
        }
    }

    async fn credentials(&self) -> Result<Credentials, Error> {
        let provider = self.inner.credentials.as_ref().ok_or_else(|| {
            Error::Other(
                "no AWS credentials are configured (set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run in a role)"
                    .into(),
            )
        })?;
        provider.provide_credentials().await.map_err(|e| {
            Error::Other(format!(
                "no AWS credentials: {}",
                aws_sdk_eks::error::DisplayErrorContext(&e)
            ))
        })
    }

    async fn attempt(&self, action: &str, params: &Params) -> Result<Element, Attempt> {
        let inner = &self.inner;
        let region = inner.region.as_deref().ok_or_else(|| {
            Attempt::Final(Error::Other(
                "no AWS region is configured: pass --region or set AWS_REGION".into(),
            ))
        })?;
        let http = inner
            .http
            .as_ref()
            .map_err(|e| Attempt::Final(Error::Other(e.clone())))?;
        let endpoint = inner
            .endpoint
            .clone()
            .unwrap_or_else(|| regional_endpoint(region));
        let url = format!("{}/", endpoint.trim_end_matches('/'));
        let creds = self.credentials().await.map_err(Attempt::Final)?;
        let body = body(action, params);
        let mut req = request(&url, &body).map_err(|e| Attempt::Final(Error::Other(e)))?;
        sign_request(&mut req, body.as_bytes(), &creds, region, SystemTime::now())
            .map_err(|e| Attempt::Final(Error::Other(e)))?;
        let exchange = async {
            let resp = http.request(req).await.map_err(|e| {
                let mut msg = format!("{action} to {url}: {e}");
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg.push_str(&format!(": {s}"));
                    src = s.source();
                }
                msg
            })?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| format!("{action} to {url}: reading the answer: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        let (status, body) = match tokio::time::timeout(ATTEMPT_TIMEOUT, exchange).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(Attempt::Again(Error::Other(e))),
            Err(_) => {
                return Err(Attempt::Again(Error::Other(format!(
                    "{action} to {url}: no answer within {}s",
                    ATTEMPT_TIMEOUT.as_secs()
                ))));
            }
        };
        if !(200..300).contains(&status) {
            let e = Error::from_response(status, &body);
            return Err(if retried(&e, status) {
                Attempt::Again(e)
            } else {
                Attempt::Final(e)
            });
        }
        Element::parse(&body)
            .map_err(|e| Attempt::Final(Error::Other(format!("the answer to {action} is not XML ({e})"))))
    }
}

/// A failed attempt: worth repeating or not.
enum Attempt {
    Again(Error),
    Final(Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &Params) -> Vec<(&str, &str)> {
        p.pairs().iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn lists_and_structures_are_flattened_as_ec2_reads_them() {
        let p = Params::new()
            .list("NatGatewayId", ["nat-0a", "nat-0b"])
            .filter("tag-key", ["hubspoke.io/run-id"])
            .filter("vpc-id", ["vpc-1", "vpc-2"]);
        assert_eq!(
            pairs(&p),
            [
                ("NatGatewayId.1", "nat-0a"),
                ("NatGatewayId.2", "nat-0b"),
                ("Filter.1.Name", "tag-key"),
                ("Filter.1.Value.1", "hubspoke.io/run-id"),
                ("Filter.2.Name", "vpc-id"),
                ("Filter.2.Value.1", "vpc-1"),
                ("Filter.2.Value.2", "vpc-2"),
            ]
        );
        // numbering goes on where a list left off; NatGatewayId.10 is not NatGatewayId.1
        let many = Params::new().list("GroupId", (1..=10).map(|i| format!("sg-{i}")));
        let more = many.list("GroupId", ["sg-11"]);
        assert_eq!(more.pairs()[10], ("GroupId.11".to_string(), "sg-11".to_string()));
        let tags = Params::new()
            .list("ResourceId", ["vpc-1"])
            .tags([("hubspoke.io/run-id", "nightly-41"), ("team", "")]);
        assert_eq!(
            pairs(&tags),
            [
                ("ResourceId.1", "vpc-1"),
                ("Tag.1.Key", "hubspoke.io/run-id"),
                ("Tag.1.Value", "nightly-41"),
                ("Tag.2.Key", "team"),
                ("Tag.2.Value", ""),
            ]
        );
    }

    #[test]
    fn the_body_is_form_encoded_with_action_and_version_first() {
        let p = Params::new()
            .set("GroupName", "a b/c+d")
            .set("GroupDescription", "Zoë's ~group_1.0-x & more=yes");
        assert_eq!(
            body("CreateSecurityGroup", &p),
            "Action=CreateSecurityGroup&Version=2016-11-15\
             &GroupName=a%20b%2Fc%2Bd\
             &GroupDescription=Zo%C3%AB%27s%20~group_1.0-x%20%26%20more%3Dyes"
        );
        assert_eq!(
            body("DescribeVpcs", &Params::new()),
            "Action=DescribeVpcs&Version=2016-11-15"
        );
    }

    /// DescribeSecurityGroups as EC2 answers it: the cluster's group lets the nodes' group
    /// in on 443 and itself on everything, and reaches out anywhere.
    const SECURITY_GROUPS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
    <securityGroupInfo>
        <item>
            <ownerId>123456789012</ownerId>
            <groupId>sg-0cluster</groupId>
            <groupName>hub-nightly-41-cluster</groupName>
            <groupDescription>EKS cluster security group</groupDescription>
            <vpcId>vpc-0abc</vpcId>
            <ipPermissions>
                <item>
                    <ipProtocol>tcp</ipProtocol>
                    <fromPort>443</fromPort>
                    <toPort>443</toPort>
                    <groups>
                        <item>
                            <userId>123456789012</userId>
                            <groupId>sg-0node</groupId>
                            <description>Node groups to cluster API</description>
                        </item>
                    </groups>
                    <ipRanges/>
                    <ipv6Ranges/>
                    <prefixListIds/>
                </item>
                <item>
                    <ipProtocol>-1</ipProtocol>
                    <groups>
                        <item>
                            <userId>123456789012</userId>
                            <groupId>sg-0cluster</groupId>
                        </item>
                    </groups>
                    <ipRanges/>
                    <ipv6Ranges/>
                    <prefixListIds/>
                </item>
            </ipPermissions>
            <ipPermissionsEgress>
                <item>
                    <ipProtocol>-1</ipProtocol>
                    <groups/>
                    <ipRanges>
                        <item>
                            <cidrIp>0.0.0.0/0</cidrIp>
                            <description>Allow all &amp; everything</description>
                        </item>
                    </ipRanges>
                    <ipv6Ranges>
                        <item>
                            <cidrIpv6>::/0</cidrIpv6>
                        </item>
                    </ipv6Ranges>
                    <prefixListIds>
                        <item>
                            <prefixListId>pl-63a5400a</prefixListId>
                        </item>
                    </prefixListIds>
                </item>
            </ipPermissionsEgress>
            <tagSet>
                <item>
                    <key>hubspoke.io/run-id</key>
                    <value>nightly-41</value>
                </item>
            </tagSet>
        </item>
    </securityGroupInfo>
</DescribeSecurityGroupsResponse>"#;

    #[test]
    fn a_groups_rules_read_back_as_the_permissions_that_revoke_them() {
        let doc = Element::parse(SECURITY_GROUPS.as_bytes()).unwrap();
        assert_eq!(doc.name, "DescribeSecurityGroupsResponse");
        let groups: Vec<&Element> = doc.items("securityGroupInfo").collect();
        assert_eq!(groups.len(), 1);
        let group = groups[0];
        assert_eq!(group.get("groupName"), Some("hub-nightly-41-cluster"));
        assert_eq!(
            group.tags(),
            BTreeMap::from([("hubspoke.io/run-id".to_string(), "nightly-41".to_string())])
        );
        let ingress = Params::new()
            .set("GroupId", "sg-0cluster")
            .structs("IpPermissions", group.items("ipPermissions").map(ip_permission));
        assert_eq!(
            pairs(&ingress),
            [
                ("GroupId", "sg-0cluster"),
                ("IpPermissions.1.IpProtocol", "tcp"),
                ("IpPermissions.1.FromPort", "443"),
                ("IpPermissions.1.ToPort", "443"),
                ("IpPermissions.1.Groups.1.UserId", "123456789012"),
                ("IpPermissions.1.Groups.1.GroupId", "sg-0node"),
                (
                    "IpPermissions.1.Groups.1.Description",
                    "Node groups to cluster API"
                ),
                ("IpPermissions.2.IpProtocol", "-1"),
                ("IpPermissions.2.Groups.1.UserId", "123456789012"),
                ("IpPermissions.2.Groups.1.GroupId", "sg-0cluster"),
            ]
        );
        let egress: Vec<Params> = group.items("ipPermissionsEgress").map(ip_permission).collect();
        assert_eq!(
            pairs(&Params::new().structs("IpPermissions", egress)),
            [
                ("IpPermissions.1.IpProtocol", "-1"),
                ("IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
                ("IpPermissions.1.IpRanges.1.Description", "Allow all & everything"),
                ("IpPermissions.1.Ipv6Ranges.1.CidrIpv6", "::/0"),
                ("IpPermissions.1.PrefixListIds.1.PrefixListId", "pl-63a5400a"),
            ]
        );
    }

    #[test]
    fn answers_are_read_as_element_trees() {
        let nat = br#"<DescribeNatGatewaysResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>bfed02c6-dae9-47c0-86a2-example</requestId>
    <natGatewaySet>
        <item>
            <createTime>2025-11-25T14:00:55.416Z</createTime>
            <natGatewayAddressSet>
                <item>
                    <allocationId>eipalloc-37fc1a52</allocationId>
                    <networkInterfaceId>eni-00e37850</networkInterfaceId>
                    <privateIp>10.0.2.147</privateIp>
                    <publicIp>198.18.125.129</publicIp>
                </item>
            </natGatewayAddressSet>
            <natGatewayId>nat-04e77a5e9c34432f9</natGatewayId>
            <state>deleting</state>
            <subnetId>subnet-1a2a3a4a</subnetId>
            <vpcId>vpc-4e20d42b</vpcId>
        </item>
    </natGatewaySet>
    <nextToken>eyJ2IjoiMiJ9</nextToken>
</DescribeNatGatewaysResponse>"#;
        let doc = Element::parse(nat).unwrap();
        let items: Vec<(&str, &str)> = doc
            .items("natGatewaySet")
            .map(|n| (n.get("natGatewayId").unwrap(), n.get("state").unwrap()))
            .collect();
        assert_eq!(items, [("nat-04e77a5e9c34432f9", "deleting")]);
        assert_eq!(doc.get("nextToken"), Some("eyJ2IjoiMiJ9"));
        assert_eq!(doc.items("addressesSet").count(), 0);

        // empty elements, character references, CDATA, a namespace prefix
        let doc = Element::parse(
            b"<?xml version=\"1.0\"?><r:Root xmlns:r=\"urn:x\"><a/><b>it&apos;s &#x3C;&#60;<![CDATA[<raw>]]></b></r:Root>",
        )
        .unwrap();
        assert_eq!(doc.name, "Root");
        assert_eq!(doc.get("a"), Some(""));
        assert_eq!(doc.get("b"), Some("it's <<<raw>"));
        assert_eq!(doc.get("c"), None);

        for (bad, why) in [
            (&b"<a><b></a>"[..], "at byte"),
            (b"<a><b>", "the document ends inside <b>"),
            (b"", "no element"),
            (b"<a/><b/>", "a second root element <b>"),
            (b"<a>&nbsp;</a>", "unknown entity &nbsp;"),
        ] {
            let e = Element::parse(bad).unwrap_err();
            assert!(e.contains(why), "{}: {e}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn errors_are_read_from_ec2s_error_document() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
    <Errors>
        <Error>
            <Code>DependencyViolation</Code>
            <Message>The vpc 'vpc-0abc' has dependencies and cannot be deleted.</Message>
        </Error>
    </Errors>
    <RequestID>ea966190-f9aa-478e-9ede-example</RequestID>
</Response>"#;
        let e = Error::from_response(400, doc);
        assert_eq!(
            e,
            Error::Api {
                code: "DependencyViolation".into(),
                message: "The vpc 'vpc-0abc' has dependencies and cannot be deleted.".into(),
                request_id: Some("ea966190-f9aa-478e-9ede-example".into()),
                status: 400,
            }
        );
        assert_eq!(e.code(), Some("DependencyViolation"));
        assert_eq!(
            e.to_string(),
            "DependencyViolation: The vpc 'vpc-0abc' has dependencies and cannot be deleted. (request id ea966190-f9aa-478e-9ede-example)"
        );
        assert!(!retried(&e, 400));

        let throttled = Error::from_response(
            503,
            b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r-1</RequestID></Response>",
        );
        assert_eq!(throttled.code(), Some("RequestLimitExceeded"));
        assert!(retried(&throttled, 503));
        let no_message = Error::from_response(
            400,
            b"<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code></Error></Errors></Response>",
        );
        assert_eq!(no_message.to_string(), "InvalidVpcID.NotFound");

        // not EC2 answering: the status and what came instead
        let proxy = Error::from_response(502, b"<html><body>Bad Gateway</body></html>\n");
        assert_eq!(
            proxy,
            Error::Other("HTTP 502: <html><body>Bad Gateway</body></html>".into())
        );
        assert_eq!(proxy.code(), None);
        assert!(retried(&proxy, 502));
        assert_eq!(
            Error::from_response(403, b"").to_string(),
            "HTTP 403 without a body"
        );
        let long = Error::from_response(400, "x".repeat(300).as_bytes()).to_string();
        assert_eq!(long, format!("HTTP 400: {}…", "x".repeat(200)));
    }

    #[test]
    fn endpoints_are_configured_or_regional() {
        assert_eq!(
            regional_endpoint("eu-west-2"),
            "https://ec2.eu-west-2.amazonaws.com"
        );
        assert_eq!(
            regional_endpoint("cn-north-1"),
            "https://ec2.cn-north-1.amazonaws.com.cn"
        );
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-2"))
            .endpoint_url("http://127.0.0.1:5000")
            .build();
        assert_eq!(
            configured_endpoint(&sdk).as_deref(),
            Some("http://127.0.0.1:5000")
        );
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-2"))
            .build();
        assert_eq!(configured_endpoint(&sdk), None);
    }
}
