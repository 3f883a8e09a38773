//! `SOURCE`: the one argument that says what `informer mirror` mirrors.
//!
//! A SOURCE is a URL-like string whose scheme picks the backend:
//!
//! | form | backend |
//! | --- | --- |
//! | `memory://demo[?objects=N&rate=N&seed=N]` | in-memory demo pods with synthetic churn |
//! | `etcd://HOST:PORT[,HOST:PORT...]/PREFIX` | an etcd v3 key prefix (the prefix includes its leading `/`) |
//! | `kube://[GROUP/]VERSION/RESOURCE[?namespace=NS&labelSelector=SEL&fieldSelector=SEL]` | a Kubernetes collection |
//! | `etcd2+http://HOST:PORT/v2/keys/DIR` | an etcd v2 directory (HTTP long-poll) |
//! | `consul+http://HOST:PORT/v1/kv/PREFIX` | a Consul KV prefix (blocking queries) |
//! | `http://URL`, `https://URL` | any JSON list endpoint with an index header (HTTP long-poll) |
//!
//! [`SourceSpec::parse`] is a pure function: it never panics and never touches the network.
//! Its [`SpecError`] names the part of the string that is wrong and shows a correct form.
//!
//! ```
//! use informer_cli::source_spec::{SourceSpec, KubeSpec};
//! let spec = SourceSpec::parse("kube://apps/v1/deployments?namespace=default").unwrap();
//! let SourceSpec::Kube(KubeSpec { group, version, resource, namespace, .. }) = spec else { panic!() };
//! assert_eq!((group.as_deref(), version.as_str(), resource.as_str()), (Some("apps"), "v1", "deployments"));
//! assert_eq!(namespace.as_deref(), Some("default"));
//!
//! let err = SourceSpec::parse("etcd://127.0.0.1/app/").unwrap_err();
//! assert!(err.to_string().contains("127.0.0.1"));
//! assert!(err.to_string().contains("etcd://127.0.0.1:2379/app/"));
//! ```

mod endpoint;
#[cfg(test)]
mod tests;

use std::fmt;

pub use endpoint::HostPort;

/// The correct forms, shown in errors.
pub mod forms {
    /// The memory form.
    pub const MEMORY: &str = "memory://demo?objects=1000&rate=100";
    /// The etcd v3 form.
    pub const ETCD: &str = "etcd://127.0.0.1:2379/app/";
    /// The Kubernetes form.
    pub const KUBE: &str = "kube://apps/v1/deployments?namespace=default";
    /// The etcd v2 form.
    pub const ETCD2: &str = "etcd2+http://127.0.0.1:2379/v2/keys/app";
    /// The Consul form.
    pub const CONSUL: &str = "consul+http://127.0.0.1:8500/v1/kv/app/";
    /// The plain HTTP form.
    pub const HTTP: &str = "http://127.0.0.1:8080/items";
    /// Every form, for "which scheme?" errors.
    pub const ALL: &str = "memory://demo, etcd://HOST:PORT[,HOST:PORT...]/PREFIX, \
        kube://[GROUP/]VERSION/RESOURCE[?namespace=NS&labelSelector=SEL&fieldSelector=SEL], \
        etcd2+http://HOST:PORT/v2/keys/DIR, consul+http://HOST:PORT/v1/kv/PREFIX, http(s)://URL";
}

/// A parsed SOURCE. See the [module docs](self) for the forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// `memory://demo`.
    Memory(MemorySpec),
    /// `etcd://HOST:PORT[,...]/PREFIX`.
    Etcd(EtcdSpec),
    /// `kube://[GROUP/]VERSION/RESOURCE[?...]`.
    Kube(KubeSpec),
    /// `etcd2+http://HOST:PORT/v2/keys/DIR`.
    Etcd2(Etcd2Spec),
    /// `consul+http://HOST:PORT/v1/kv/PREFIX`.
    Consul(ConsulSpec),
    /// `http(s)://URL`.
    Http(HttpSpec),
}

/// `memory://demo?objects=N&rate=N&seed=N`: demo pods with synthetic churn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemorySpec {
    /// How many pods the demo starts with (`objects`, default 1000, at most 10 000 000).
    pub objects: usize,
    /// Changes per second of the churn loop (`rate`, default 100; 0 turns churn off).
    pub rate: u32,
    /// Seed of the generated data and churn (`seed`, default 42).
    pub seed: u64,
}

impl Default for MemorySpec {
    fn default() -> Self {
        Self { objects: 1000, rate: 100, seed: 42 }
    }
}

/// `etcd://HOST:PORT[,HOST:PORT...]/PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdSpec {
    /// The cluster's client endpoints.
    pub endpoints: Vec<HostPort>,
    /// The key prefix, with its leading `/` (`etcd://h:2379/app/` mirrors `/app/...`).
    pub prefix: String,
}

/// `kube://[GROUP/]VERSION/RESOURCE[?namespace=NS&labelSelector=SEL&fieldSelector=SEL]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeSpec {
    /// The API group; `None` for the core group (`kube://v1/pods`).
    pub group: Option<String>,
    /// The API version, e.g. `v1`, `v1beta1`.
    pub version: String,
    /// The resource's plural name, e.g. `pods`.
    pub resource: String,
    /// Only this namespace (`None`: all namespaces).
    pub namespace: Option<String>,
    /// A label selector passed to the server, e.g. `app=web`.
    pub label_selector: Option<String>,
    /// A field selector passed to the server, e.g. `spec.nodeName=node-1`.
    pub field_selector: Option<String>,
}

impl KubeSpec {
    /// `GROUP/VERSION`, or `VERSION` for the core group (a Kubernetes `apiVersion`).
    pub fn api_version(&self) -> String {
        match &self.group {
            Some(group) => format!("{group}/{}", self.version),
            None => self.version.clone(),
        }
    }
}

/// `etcd2+http://HOST:PORT/v2/keys/DIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Etcd2Spec {
    /// The etcd server.
    pub endpoint: HostPort,
    /// The directory under `/v2/keys/` (empty: the whole key space).
    pub dir: String,
}

/// `consul+http://HOST:PORT/v1/kv/PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsulSpec {
    /// The Consul agent.
    pub endpoint: HostPort,
    /// The key prefix under `/v1/kv/`.
    pub prefix: String,
}

/// `http://URL` or `https://URL`: a JSON list endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    /// The URL exactly as given.
    pub url: String,
    /// The server.
    pub endpoint: HostPort,
    /// True for `https://`.
    pub tls: bool,
}

/// A SOURCE that could not be parsed: which part is wrong, why, and a correct form.
///
/// ```
/// let err = informer_cli::source_spec::SourceSpec::parse("kube://pods").unwrap_err();
/// assert_eq!(err.part, "kube path `pods`");
/// assert!(err.to_string().contains("kube://v1/pods"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SOURCE {input:?}: bad {part}: {reason}\n  expected a SOURCE like: {expected}")]
pub struct SpecError {
    /// The SOURCE as given.
    pub input: String,
    /// The part that is wrong, e.g. ``endpoint `127.0.0.1` ``.
    pub part: String,
    /// What is wrong with it.
    pub reason: String,
    /// A correct form.
    pub expected: String,
}

/// Builds errors for one SOURCE string.
struct Ctx<'a> {
    input: &'a str,
    expected: &'static str,
}

impl Ctx<'_> {
    fn err(&self, part: impl Into<String>, reason: impl Into<String>) -> SpecError {
        SpecError {
            input: self.input.to_string(),
            part: part.into(),
            reason: reason.into(),
            expected: self.expected.to_string(),
        }
    }
}

impl SourceSpec {
    /// Parses a SOURCE string. Pure: never panics, never does I/O.
    pub fn parse(input: &str) -> Result<Self, SpecError> {
        let ctx = Ctx { input, expected: forms::ALL };
        let Some((scheme, rest)) = input.split_once("://") else {
            return Err(ctx.err("scheme", "SOURCE has no `SCHEME://` prefix"));
        };
        match scheme {
            "memory" => parse_memory(rest, &Ctx { input, expected: forms::MEMORY }).map(Self::Memory),
            "etcd" => parse_etcd(rest, &Ctx { input, expected: forms::ETCD }).map(Self::Etcd),
            "kube" => parse_kube(rest, &Ctx { input, expected: forms::KUBE }).map(Self::Kube),
            "etcd2+http" => {
                let ctx = Ctx { input, expected: forms::ETCD2 };
                let (endpoint, dir) = endpoint_and_path_prefix(rest, "/v2/keys", &ctx)?;
                Ok(Self::Etcd2(Etcd2Spec { endpoint, dir }))
            }
            "consul+http" => {
                let ctx = Ctx { input, expected: forms::CONSUL };
                let (endpoint, prefix) = endpoint_and_path_prefix(rest, "/v1/kv", &ctx)?;
                Ok(Self::Consul(ConsulSpec { endpoint, prefix }))
            }
            "http" | "https" => {
                let ctx = Ctx { input, expected: forms::HTTP };
                let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
                let endpoint = HostPort::parse_optional_port(authority, if scheme == "https" { 443 } else { 80 })
                    .map_err(|reason| ctx.err(format!("host `{authority}`"), reason))?;
                Ok(Self::Http(HttpSpec { url: input.to_string(), endpoint, tls: scheme == "https" }))
            }
            "etcd2" | "consul" => {
                Err(ctx.err(format!("scheme `{scheme}`"), format!("say how to reach it: `{scheme}+http://`")))
            }
            other => Err(ctx.err(
                format!("scheme `{other}`"),
                "unknown scheme; known: memory, etcd, kube, etcd2+http, consul+http, http, https",
            )),
        }
    }

    /// The kind of backend as a short name (`memory`, `etcd`, `kube`, `etcd2`, `consul`, `http`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Etcd(_) => "etcd",
            Self::Kube(_) => "kube",
            Self::Etcd2(_) => "etcd2",
            Self::Consul(_) => "consul",
            Self::Http(_) => "http",
        }
    }
}

impl std::str::FromStr for SourceSpec {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        Self::parse(s)
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory(m) => write!(f, "memory://demo?objects={}&rate={}&seed={}", m.objects, m.rate, m.seed),
            Self::Etcd(e) => {
                let endpoints: Vec<String> = e.endpoints.iter().map(ToString::to_string).collect();
                write!(f, "etcd://{}{}", endpoints.join(","), e.prefix)
            }
            Self::Kube(k) => {
                write!(f, "kube://{}/{}", k.api_version(), k.resource)?;
                let params: Vec<(&str, &String)> = [
                    ("namespace", &k.namespace),
                    ("labelSelector", &k.label_selector),
                    ("fieldSelector", &k.field_selector),
                ]
                .into_iter()
                .filter_map(|(name, value)| value.as_ref().map(|v| (name, v)))
                .collect();
                if !params.is_empty() {
                    let mut query = form_urlencoded::Serializer::new(String::new());
                    for (name, value) in params {
                        query.append_pair(name, value);
                    }
                    write!(f, "?{}", query.finish())?;
                }
                Ok(())
            }
            Self::Etcd2(e) => write!(f, "etcd2+http://{}/v2/keys/{}", e.endpoint, e.dir),
            Self::Consul(c) => write!(f, "consul+http://{}/v1/kv/{}", c.endpoint, c.prefix),
            Self::Http(h) => f.write_str(&h.url),
        }
    }
}

/// Decoded `NAME=VALUE` pairs of a query string, in order.
type QueryPairs = Vec<(String, String)>;

/// Splits `path?query` and decodes the query into pairs; rejects an empty name.
fn split_query<'a>(rest: &'a str, ctx: &Ctx<'_>) -> Result<(&'a str, QueryPairs), SpecError> {
    let Some((path, query)) = rest.split_once('?') else { return Ok((rest, Vec::new())) };
    let mut pairs = Vec::new();
    for raw in query.split('&').filter(|p| !p.is_empty()) {
        if !raw.contains('=') {
            return Err(ctx.err(format!("query parameter `{raw}`"), "expected NAME=VALUE"));
        }
        let decoded = form_urlencoded::parse(raw.as_bytes()).next();
        let Some((name, value)) = decoded else { continue };
        if name.is_empty() {
            return Err(ctx.err(format!("query parameter `{raw}`"), "the name before `=` is empty"));
        }
        pairs.push((name.into_owned(), value.into_owned()));
    }
    Ok((path, pairs))
}

fn parse_number<T>(name: &str, value: &str, max: T, ctx: &Ctx<'_>) -> Result<T, SpecError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display,
{
    match value.parse::<T>() {
        Ok(n) if n <= max => Ok(n),
        Ok(_) => Err(ctx.err(format!("query parameter `{name}={value}`"), format!("at most {max}"))),
        Err(_) => Err(ctx.err(format!("query parameter `{name}={value}`"), "expected a non-negative whole number")),
    }
}

fn parse_memory(rest: &str, ctx: &Ctx<'_>) -> Result<MemorySpec, SpecError> {
    let (name, params) = split_query(rest, ctx)?;
    if name != "demo" && name != "demo/" {
        return Err(ctx.err(format!("memory source `{name}`"), "the only memory source is `demo`"));
    }
    let mut spec = MemorySpec::default();
    for (key, value) in params {
        match key.as_str() {
            "objects" => spec.objects = parse_number(&key, &value, 10_000_000usize, ctx)?,
            "rate" => spec.rate = parse_number(&key, &value, 1_000_000u32, ctx)?,
            "seed" => spec.seed = parse_number(&key, &value, u64::MAX, ctx)?,
            _ => {
                return Err(ctx
                    .err(format!("query parameter `{key}`"), "unknown for memory://demo; known: objects, rate, seed"));
            }
        }
    }
    Ok(spec)
}

fn parse_etcd(rest: &str, ctx: &Ctx<'_>) -> Result<EtcdSpec, SpecError> {
    let (authority, prefix) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(ctx.err("endpoints", "no HOST:PORT before the prefix"));
    }
    let mut endpoints = Vec::new();
    for part in authority.split(',') {
        let endpoint = HostPort::parse(part).map_err(|reason| ctx.err(format!("endpoint `{part}`"), reason))?;
        endpoints.push(endpoint);
    }
    if prefix.is_empty() {
        return Err(ctx.err("prefix", "missing `/PREFIX` after the endpoints (use `/` for every key)"));
    }
    Ok(EtcdSpec { endpoints, prefix: prefix.to_string() })
}

fn is_version(s: &str) -> bool {
    // v1, v2, v1beta1, v2alpha3: what Kubernetes accepts as an API version.
    let Some(rest) = s.strip_prefix('v') else { return false };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || rest.starts_with('0') {
        return false;
    }
    let tail = &rest[digits..];
    let level = tail.strip_prefix("alpha").or_else(|| tail.strip_prefix("beta"));
    match level {
        None => tail.is_empty(),
        Some(n) => !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0'),
    }
}

fn is_dns_name(s: &str, allow_dots: bool) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (allow_dots && b == b'.'))
        && !s.starts_with(['-', '.'])
        && !s.ends_with(['-', '.'])
}

fn parse_kube(rest: &str, ctx: &Ctx<'_>) -> Result<KubeSpec, SpecError> {
    let (path, params) = split_query(rest, ctx)?;
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let (group, version, resource) = match segments.as_slice() {
        [version, resource] => (None, *version, *resource),
        [group, version, resource] => (Some(*group), *version, *resource),
        _ => {
            let example = "kube://v1/pods or kube://apps/v1/deployments";
            return Err(
                ctx.err(format!("kube path `{path}`"), format!("expected [GROUP/]VERSION/RESOURCE, e.g. {example}"))
            );
        }
    };
    if let Some(group) = group
        && !is_dns_name(group, true)
    {
        return Err(ctx.err(
            format!("kube API group `{group}`"),
            "expected a lower-case DNS name such as `apps` or `networking.k8s.io`",
        ));
    }
    if !is_version(version) {
        return Err(ctx.err(
            format!("kube API version `{version}`"),
            "expected a version such as `v1` or `v1beta1` (the core group is written `kube://v1/pods`)",
        ));
    }
    if !is_dns_name(resource, true) {
        return Err(ctx.err(
            format!("kube resource `{resource}`"),
            "expected the lower-case plural resource name, such as `pods` or `deployments`",
        ));
    }
    let mut spec = KubeSpec {
        group: group.map(str::to_string),
        version: version.to_string(),
        resource: resource.to_string(),
        namespace: None,
        label_selector: None,
        field_selector: None,
    };
    for (key, value) in params {
        let slot = match key.as_str() {
            "namespace" => {
                if !is_dns_name(&value, false) {
                    return Err(ctx.err(
                        format!("query parameter `namespace={value}`"),
                        "expected a lower-case DNS label such as `default`",
                    ));
                }
                &mut spec.namespace
            }
            "labelSelector" => &mut spec.label_selector,
            "fieldSelector" => &mut spec.field_selector,
            _ => {
                return Err(ctx.err(
                    format!("query parameter `{key}`"),
                    "unknown for kube://; known: namespace, labelSelector, fieldSelector",
                ));
            }
        };
        if value.is_empty() {
            return Err(ctx.err(format!("query parameter `{key}`"), "the value is empty"));
        }
        *slot = Some(value);
    }
    Ok(spec)
}

/// `HOST:PORT/<api>/REST` → (endpoint, REST) for etcd2+http and consul+http.
fn endpoint_and_path_prefix(rest: &str, api: &str, ctx: &Ctx<'_>) -> Result<(HostPort, String), SpecError> {
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let endpoint = HostPort::parse(authority).map_err(|reason| ctx.err(format!("endpoint `{authority}`"), reason))?;
    let remainder = if path == api {
        ""
    } else if let Some(r) = path.strip_prefix(api).and_then(|r| r.strip_prefix('/')) {
        r
    } else {
        return Err(ctx.err(format!("path `{path}`"), format!("the path must start with `{api}/`")));
    };
    if remainder.contains(['?', '#']) {
        return Err(ctx.err(format!("path `{path}`"), "query strings and fragments are not supported here"));
    }
    Ok((endpoint, remainder.to_string()))
}
