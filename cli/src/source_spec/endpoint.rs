//! `HOST:PORT`, as written in a SOURCE.

use std::fmt;

/// A server address: a host name, IPv4 address or bracketed IPv6 address, and a port.
///
/// ```
/// use informer_cli::source_spec::HostPort;
/// let hp = HostPort::parse("[::1]:2379").unwrap();
/// assert_eq!((hp.host.as_str(), hp.port), ("[::1]", 2379));
/// assert_eq!(hp.to_string(), "[::1]:2379");
/// assert!(HostPort::parse("localhost").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The host; IPv6 addresses keep their brackets.
    pub host: String,
    /// The TCP port (1–65535).
    pub port: u16,
}

impl HostPort {
    /// Parses `HOST:PORT`; the port is required. The error says what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        match Self::split(s)? {
            (host, Some(port)) => Ok(Self { host: host.to_string(), port: parse_port(port)? }),
            (_, None) => Err("missing `:PORT` (e.g. `127.0.0.1:2379`)".to_string()),
        }
    }

    /// Parses `HOST[:PORT]`, using `default_port` when there is none.
    pub fn parse_optional_port(s: &str, default_port: u16) -> Result<Self, String> {
        let (host, port) = Self::split(s)?;
        let port = match port {
            Some(p) => parse_port(p)?,
            None => default_port,
        };
        Ok(Self { host: host.to_string(), port })
    }

    /// `host:port` as a `http://` base URL.
    pub fn http_url(&self) -> String {
        format!("http://{self}")
    }

    fn split(s: &str) -> Result<(&str, Option<&str>), String> {
        if s.is_empty() {
            return Err("the host is empty (e.g. `127.0.0.1:2379`)".to_string());
        }
        if s.contains('@') {
            return Err("user information (`user@`) is not supported".to_string());
        }
        let (host, port) = if s.starts_with('[') {
            let Some(end) = s.find(']') else { return Err("an IPv6 address needs a closing `]`".to_string()) };
            let (host, after) = s.split_at(end + 1);
            let inner = &host[1..host.len() - 1];
            if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
                return Err(format!("`{host}` is not an IPv6 address"));
            }
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(format!("unexpected `{after}` after `{host}`")),
                },
            }
        } else {
            match s.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (s, None),
            }
        };
        if !host.starts_with('[') && !is_host_name(host) {
            return Err(format!(
                "`{host}` is not a host name or IP address (letters, digits, `-` and `.`; IPv6 in brackets)"
            ));
        }
        Ok((host, port))
    }
}

fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        && !host.starts_with(['-', '.'])
}

fn parse_port(port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(0) => Err("port 0 is not a usable port (1-65535)".to_string()),
        Ok(p) if !port.starts_with('+') => Ok(p),
        _ => Err(format!("port `{port}` is not a number in 1-65535")),
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}
